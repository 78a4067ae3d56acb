"""How much a colorized video flickers, and how right its colour is, frame by frame.

- **Warp error** (Lai et al. 2018, "Learning Blind Video Temporal Consistency", eq. 7): for each
  pair of consecutive frames, the mean squared RGB difference (values in [0, 1]) between frame t
  and frame t-1 warped onto it, over the pixels where the flow holds (non-occluded); the mean over
  pairs. The flow is computed on the *gray input*, so every colorization of one clip is measured
  along the same motion. Lai et al. use FlowNet2; this uses OpenCV's DIS (no weights to download),
  with the forward–backward check of :mod:`colorize.inference.steady` as the occlusion mask, so the
  values compare within this project only. Pairs across a scene cut (few pixels pass the check, or
  the lightness histograms differ much) are left out: no flow joins them.
- **CDC**, colour distribution consistency (Liu et al. 2021, TCVC; also reported by ColorMNet): the
  Jensen–Shannon divergence (natural log) of the 256-bin histograms of R, G and B between frames
  ``g`` apart, averaged over channels and frames, for gaps 1, 2 and 4; ``cdc`` is the mean of the three.
- **Pixel accuracy** at 2 % and 5 % (the paper's eq. 10-11, :class:`colorize.evaluation.metrics.PixelAccuracy`)
  of each frame's a*b* against the true colour, averaged over frames.

:class:`TemporalMetrics` takes the frames one at a time and keeps only the last few histograms
and one frame, so a film of any length is measured in constant memory.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import torch

from colorize.color import AB_SCALE
from colorize.evaluation.metrics import PixelAccuracy
from colorize.inference.steady import FlowCheck, consistent_flow, dis_flow, is_cut, warp

__all__ = ["TemporalMetrics", "flow_checks", "js_divergence"]

CDC_GAPS = (1, 2, 4)
_COMPUTE = object()


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen–Shannon divergence (natural log, 0 to ln 2) of two histograms (normalized here)."""
    p = p / p.sum()
    q = q / q.sum()
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        nonzero = a > 0
        return float((a[nonzero] * np.log(a[nonzero] / m[nonzero])).sum())

    return (kl(p) + kl(q)) / 2


def _normalized_ab(rgb: np.ndarray) -> torch.Tensor:
    """``(1, 2, H, W)`` a*b* / 110 of an ``(H, W, 3)`` uint8 frame (OpenCV's Lab: kornia's within 0.5, 50x faster)."""
    lab = cv2.cvtColor(rgb.astype(np.float32) * (1 / 255), cv2.COLOR_RGB2Lab)
    return torch.from_numpy(np.ascontiguousarray(lab[..., 1:].transpose(2, 0, 1)))[None] / AB_SCALE


def flow_checks(lightness: list[np.ndarray], preset: str = "medium") -> list[FlowCheck | None]:
    """The flow of each consecutive pair of a clip's frames (None at a cut), to measure several colorizations with.

    Every colorization of one clip is measured along the same flow (of its gray input), so computing it
    once saves the costliest part of :meth:`TemporalMetrics.update`.
    """
    dis, out = dis_flow(preset), []
    for previous, current in zip(lightness, lightness[1:], strict=False):
        check = consistent_flow(dis, previous, current)
        out.append(None if is_cut(previous, current, check) else check)
    return out


def _histograms(rgb: np.ndarray) -> np.ndarray:
    """``(3, 256)`` per-channel histograms of an ``(H, W, 3)`` uint8 frame."""
    return np.stack([np.bincount(rgb[..., c].ravel(), minlength=256) for c in range(3)]).astype(np.float64)


class TemporalMetrics:
    """Warp error, CDC and per-frame pixel accuracy of one clip (see the module docstring).

    Args:
        preset: the DIS preset of the flow on the gray input.
        gaps: the frame gaps of CDC.
        thresholds: the pixel-accuracy thresholds (fractions).
    """

    def __init__(self, preset: str = "medium", gaps: Sequence[int] = CDC_GAPS, thresholds=(0.02, 0.05)) -> None:
        self.gaps = tuple(gaps)
        self.preset = preset
        self._accuracy = PixelAccuracy(thresholds)
        self._previous: tuple[np.ndarray, np.ndarray] | None = None
        self._histograms: deque[np.ndarray] = deque(maxlen=max(self.gaps) + 1)
        self._warp_sum, self._pairs, self._cuts, self._frames = 0.0, 0, 0, 0
        self._cdc_sum = dict.fromkeys(self.gaps, 0.0)
        self._cdc_count = dict.fromkeys(self.gaps, 0)

    def update(
        self, lightness: np.ndarray, rgb: np.ndarray, truth: np.ndarray | None = None, flow: Any = _COMPUTE
    ) -> None:
        """Add the next frame.

        Args:
            lightness: ``(H, W)`` uint8, the gray input's L* scaled to 0-255 (the flow is computed on it).
            rgb: ``(H, W, 3)`` uint8, the colorized frame.
            truth: ``(H, W, 3)`` uint8, the true colour, for pixel accuracy; None skips it.
            flow: the pair's :class:`FlowCheck` from :func:`flow_checks` (None: a cut); not given, it is computed.
        """
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[:2] != lightness.shape or rgb.dtype != np.uint8:
            raise ValueError(f"rgb must be (H, W, 3) uint8 with (H, W) = {lightness.shape}, got {rgb.shape}")
        if self._previous is not None:
            previous_l, previous_rgb = self._previous
            if flow is _COMPUTE:
                flow = flow_checks([previous_l, lightness], self.preset)[0]
            check, cut = flow, flow is None
            if cut:
                self._cuts += 1
            else:
                warped = warp(previous_rgb.astype(np.float32) / 255, check.flow)
                error = ((rgb.astype(np.float32) / 255 - warped) ** 2).sum(-1)
                self._warp_sum += float(error[check.valid].mean())
                self._pairs += 1
        self._previous = (lightness, rgb)
        histograms = _histograms(rgb)
        for gap in self.gaps:
            if len(self._histograms) >= gap:
                earlier = self._histograms[-gap]
                self._cdc_sum[gap] += float(np.mean([js_divergence(earlier[c], histograms[c]) for c in range(3)]))
                self._cdc_count[gap] += 1
        self._histograms.append(histograms)
        if truth is not None:
            self._accuracy.update(_normalized_ab(rgb), _normalized_ab(truth))
        self._frames += 1

    def compute(self) -> dict[str, float]:
        """``warp_error``, ``cdc``, ``cdc@g`` per gap, ``pixel_acc@t%`` (when truths were given), counts."""
        out: dict[str, float] = {
            "warp_error": self._warp_sum / self._pairs if self._pairs else float("nan"),
            "frames": self._frames,
            "pairs": self._pairs,
            "cuts": self._cuts,
        }
        per_gap = {g: self._cdc_sum[g] / self._cdc_count[g] for g in self.gaps if self._cdc_count[g]}
        out.update({f"cdc@{g}": v for g, v in per_gap.items()})
        out["cdc"] = float(np.mean(list(per_gap.values()))) if per_gap else float("nan")
        if int(self._accuracy.images):
            out.update({k: float(v) for k, v in self._accuracy.compute().items()})
        return out
