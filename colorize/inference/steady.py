"""Steady colour for video: carry the previous frame's colour along the optical flow.

Colorizing frames one at a time makes colour flicker: the generator's guess for a wall or a
coat changes a little from frame to frame although the gray input barely does. Here the
previous *output*'s a*b* is warped into the new frame along optical flow computed on the
lightness, and blended with the new prediction wherever the flow can be trusted:

    ab_t = pred_t + strength · valid_t · (warp(ab_{t-1}) - pred_t)

- **Flow**: OpenCV's DIS (Kroeger et al. 2016), on L, frame t to t-1 and back; it needs no
  weights and runs in about a millisecond at the generator's working size, where the colour is
  predicted anyway (the steadied a*b* is upsampled afterwards like a photo's).
- **Where the flow holds**: the forward–backward check of Sundaram et al. 2010 (as Ruder et
  al. 2016 use for video style transfer): a pixel is valid when following the flow back and
  forth returns to it (``|f + b|² <= 0.01 (|f|² + |b|²) + 0.5``), its warped source lies in the
  frame, and the warped lightness matches (occlusions and disocclusions fail one of these).
- **Scene cuts**: when few pixels are valid or the lightness histograms of two frames differ
  much, the previous colour is dropped and the new frame starts afresh.

The recursion makes the colour an exponential average along motion paths with a window of
about ``1 / (1 - strength)`` frames; ``strength = 0`` is the per-frame result.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = ["FlowCheck", "Steadier", "consistent_flow", "warp"]

#: Forward–backward tolerance (Sundaram et al. 2010): relative part and constant part (pixels²).
FB_RELATIVE, FB_ABSOLUTE = 0.01, 0.5
#: Largest |L_t - warped L_{t-1}| (0-255 levels) at which a pixel still counts as the same surface.
MAX_LIGHTNESS_CHANGE = 24
#: DIS presets by name (OpenCV's constants).
DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


def dis_flow(preset: str = "medium") -> cv2.DISOpticalFlow:
    """A DIS optical-flow object (OpenCV): ``flow = dis.calc(from_gray, to_gray, None)``, ``(H, W, 2)`` float32."""
    if preset not in DIS_PRESETS:
        raise ValueError(f"DIS preset must be one of {sorted(DIS_PRESETS)}, got {preset!r}")
    return cv2.DISOpticalFlow_create(DIS_PRESETS[preset])


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``image`` sampled at ``x + flow(x)`` (bilinear, borders replicated): backward warping.

    Args:
        image: ``(H, W)`` or ``(H, W, C)``, any float or uint8 dtype.
        flow: ``(H, W, 2)`` float32, x then y displacement in pixels, from the target frame into ``image``.
    """
    h, w = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(image, grid_x + flow[..., 0], grid_y + flow[..., 1], cv2.INTER_LINEAR, cv2.BORDER_REPLICATE)


@dataclass
class FlowCheck:
    """The flow from frame t back to t-1 and where it holds.

    Attributes:
        flow: ``(H, W, 2)`` float32, for each pixel of frame t its displacement into frame t-1.
        valid: ``(H, W)`` bool, the forward–backward, in-frame and lightness checks all pass.
    """

    flow: np.ndarray
    valid: np.ndarray

    @property
    def valid_share(self) -> float:
        return float(self.valid.mean()) if self.valid.size else 0.0


def consistent_flow(dis: cv2.DISOpticalFlow, previous: np.ndarray, current: np.ndarray) -> FlowCheck:
    """DIS flow from ``current`` back to ``previous`` (both ``(H, W)`` uint8 lightness) and its validity mask."""
    if previous.shape != current.shape or previous.ndim != 2 or previous.dtype != np.uint8:
        raise ValueError(
            f"frames must be two (H, W) uint8 arrays of one size, got {previous.shape} {previous.dtype} "
            f"and {current.shape} {current.dtype}"
        )
    backward = dis.calc(current, previous, None)
    forward = dis.calc(previous, current, None)
    forward_at = warp(forward, backward)  # the forward flow where each pixel of t lands in t-1
    loop = backward + forward_at
    tolerance = FB_RELATIVE * ((backward**2).sum(-1) + (forward_at**2).sum(-1)) + FB_ABSOLUTE
    h, w = current.shape
    x = np.arange(w, dtype=np.float32)[None, :] + backward[..., 0]
    y = np.arange(h, dtype=np.float32)[:, None] + backward[..., 1]
    inside = (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
    same = np.abs(warp(previous, backward).astype(np.int16) - current.astype(np.int16)) <= MAX_LIGHTNESS_CHANGE
    return FlowCheck(backward, ((loop**2).sum(-1) <= tolerance) & inside & same)


def histogram_change(previous: np.ndarray, current: np.ndarray, bins: int = 32) -> float:
    """Half the L1 distance of two frames' lightness histograms: 0 (same) to 1 (disjoint)."""
    a = np.bincount((previous.ravel().astype(np.int32) * bins) >> 8, minlength=bins) / previous.size
    b = np.bincount((current.ravel().astype(np.int32) * bins) >> 8, minlength=bins) / current.size
    return float(np.abs(a - b).sum() / 2)


@dataclass
class Steadier:
    """Blends each frame's predicted a*b* with the previous output's, carried along the flow (module docstring).

    Call it once per frame, in order; :meth:`reset` forgets the past (a new film).

    Args:
        strength: in [0, 1): how much of the carried colour is kept where the flow holds; 0 is per-frame.
        min_valid_share: a cut when fewer of the frame's pixels than this pass the flow checks.
        max_histogram_change: a cut when the lightness histograms differ more than this (:func:`histogram_change`).
        preset: the DIS preset (``ultrafast``, ``fast``, ``medium``).
    """

    strength: float = 0.8
    min_valid_share: float = 0.4
    max_histogram_change: float = 0.35
    preset: str = "medium"
    cuts: list[int] = field(default_factory=list)
    _previous: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    _frame: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.strength < 1:
            raise ValueError(f"steady strength must be in [0, 1) (0 = per-frame), got {self.strength}")
        self._dis = dis_flow(self.preset)

    def reset(self) -> None:
        self._previous, self._frame, self.cuts = None, 0, []

    def __call__(self, lightness: np.ndarray, ab: np.ndarray) -> np.ndarray:
        """The steadied a*b* of the next frame.

        Args:
            lightness: ``(h, w)`` uint8, the frame's L at the size ``ab`` has (0-255 for L* 0-100).
            ab: ``(2, h, w)`` float32, the generator's prediction for the frame.

        Returns:
            ``(2, h, w)`` float32; ``ab`` itself for the first frame, after a cut, or with strength 0.
        """
        if ab.ndim != 3 or ab.shape[0] != 2 or ab.shape[1:] != lightness.shape:
            raise ValueError(f"ab must be (2, h, w) with (h, w) = {lightness.shape}, got {ab.shape}")
        index, previous, self._frame = self._frame, self._previous, self._frame + 1
        out = ab
        if previous is not None and self.strength > 0:
            previous_l, previous_ab = previous
            if histogram_change(previous_l, lightness) > self.max_histogram_change:
                self.cuts.append(index)
            else:
                check = consistent_flow(self._dis, previous_l, lightness)
                if check.valid_share < self.min_valid_share:
                    self.cuts.append(index)
                else:
                    carried = warp(np.ascontiguousarray(previous_ab.transpose(1, 2, 0)), check.flow).transpose(2, 0, 1)
                    # A soft mask: a hard one would draw the outline of every occlusion into the colour.
                    weight = cv2.blur(check.valid.astype(np.float32), (3, 3)) * self.strength
                    out = (ab + weight[None] * (carried - ab)).astype(np.float32)
        self._previous = (lightness, out) if self.strength > 0 else None
        return out
