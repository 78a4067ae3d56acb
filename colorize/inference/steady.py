"""Steady colour for video: colour carried along the optical flow, the generator on keyframes.

Colorizing frames one at a time makes colour flicker: the generator's guess for a wall or a
coat changes a little from frame to frame although the gray input barely does. And it is slow:
on a 2-core CPU the generator is nine tenths of a frame's cost. Both have one remedy: colour
changes slowly along motion, so it can be *carried* from frame to frame along optical flow
computed on the lightness, which costs a few milliseconds where the generator costs a hundred.

- **Flow**: OpenCV's DIS (Kroeger et al. 2016), on L, frame t to t-1 and back, at the generator's
  working size, where the colour is predicted anyway (the result is upsampled like a photo's).
- **Where the flow holds**: the forward–backward check of Sundaram et al. 2010 (as Ruder et al.
  2016 use for video style transfer): a pixel is valid when following the flow there and back
  returns to it (``|f + b|² <= 0.01 (|f|² + |b|²) + 0.5``), its source lies in the frame, and the
  lightness it is carried from matches (occlusions and disocclusions fail one of these). Checked
  from both frames of a pair, since colour is carried both ways.
- **Shots**: when few pixels are valid or the lightness histograms of two frames differ much, a
  new shot starts: nothing is carried across (:attr:`ShotTracker.cuts`).
- **Keyframes** (:class:`ShotTracker`): the generator colours the first frame of each shot, every
  ``interval``-th frame, and any frame to which less than :data:`MIN_CARRIED_SHARE` of the last
  keyframe's pixels could be followed (fast or complex motion asks for fresh colour sooner).
- **Carrying** (:class:`ColourCarrier`): a keyframe's prediction is steadied with the colour carried
  forward from the frames before it, ``ab = pred + strength · c · (carried - pred)``, where ``c``
  is the carried colour's confidence (the product of the soft validity masks along its path): an
  exponential average along motion paths, about ``1 / (1 - strength)`` keyframes long. The frames
  between two keyframes take the colour of both, carried forward from the earlier one and backward
  from the later one (as bidirectional propagation in video colorization does, e.g. Liu et al.
  2018's switchable propagation, BiSTNet 2022), weighted by confidence and nearness: a region
  occluded on one side is coloured from the other.

``interval = 1`` runs the generator on every frame (steadying only); ``strength = 0`` is the
per-frame result, with no flow at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

__all__ = [
    "ColourCarrier",
    "FlowCheck",
    "Motion",
    "ShotTracker",
    "consistent_flow",
    "dis_flow",
    "histogram_change",
    "is_cut",
    "warp",
]

#: Forward–backward tolerance (Sundaram et al. 2010): relative part and constant part (pixels²).
FB_RELATIVE, FB_ABSOLUTE = 0.01, 0.5
#: Largest |L_t - warped L_{t-1}| (0-255 levels) at which a pixel still counts as the same surface.
MAX_LIGHTNESS_CHANGE = 24
#: A new shot when fewer of a frame's pixels than this pass the flow checks ...
MIN_VALID_SHARE = 0.4
#: ... or when the lightness histograms of two frames differ more than this (:func:`histogram_change`).
MAX_HISTOGRAM_CHANGE = 0.35
#: A keyframe when the colour carried from the last one would cover less of the frame than this (mean confidence).
MIN_CARRIED_SHARE = 0.6
#: A pixel neither side can follow takes both sides' colour by nearness alone (this floor on each confidence).
_CONFIDENCE_FLOOR = 1e-3
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


def _check_pair(previous: np.ndarray, current: np.ndarray) -> None:
    if previous.shape != current.shape or previous.ndim != 2 or previous.dtype != np.uint8:
        raise ValueError(
            f"frames must be two (H, W) uint8 arrays of one size, got {previous.shape} {previous.dtype} "
            f"and {current.shape} {current.dtype}"
        )


def _holds(flow: np.ndarray, back: np.ndarray, source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Where ``flow`` (target's pixels into ``source``) holds: it returns along ``back``, stays inside, L matches."""
    back_at = warp(back, flow)  # the reverse flow where each pixel of the target lands in the source
    loop = flow + back_at
    tolerance = FB_RELATIVE * ((flow**2).sum(-1) + (back_at**2).sum(-1)) + FB_ABSOLUTE
    h, w = target.shape
    x = np.arange(w, dtype=np.float32)[None, :] + flow[..., 0]
    y = np.arange(h, dtype=np.float32)[:, None] + flow[..., 1]
    inside = (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
    same = np.abs(warp(source, flow).astype(np.int16) - target.astype(np.int16)) <= MAX_LIGHTNESS_CHANGE
    return ((loop**2).sum(-1) <= tolerance) & inside & same


def _flow_pair(
    dis: cv2.DISOpticalFlow, previous: np.ndarray, current: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DIS flow ``current`` -> ``previous`` and back, and where the first holds (bool, on ``current``)."""
    _check_pair(previous, current)
    backward = dis.calc(current, previous, None)
    forward = dis.calc(previous, current, None)
    return backward, forward, _holds(backward, forward, previous, current)


def consistent_flow(dis: cv2.DISOpticalFlow, previous: np.ndarray, current: np.ndarray) -> FlowCheck:
    """DIS flow from ``current`` back to ``previous`` (both ``(H, W)`` uint8 lightness) and its validity mask."""
    backward, _, valid = _flow_pair(dis, previous, current)
    return FlowCheck(backward, valid)


def histogram_change(previous: np.ndarray, current: np.ndarray, bins: int = 32) -> float:
    """Half the L1 distance of two frames' lightness histograms: 0 (same) to 1 (disjoint)."""
    a = np.bincount((previous.ravel().astype(np.int32) * bins) >> 8, minlength=bins) / previous.size
    b = np.bincount((current.ravel().astype(np.int32) * bins) >> 8, minlength=bins) / current.size
    return float(np.abs(a - b).sum() / 2)


def is_cut(previous: np.ndarray, current: np.ndarray, check: FlowCheck | None = None) -> bool:
    """Whether ``current`` starts a new shot after ``previous``: histograms far apart, or too little flow holds."""
    if histogram_change(previous, current) > MAX_HISTOGRAM_CHANGE:
        return True
    return check is not None and check.valid_share < MIN_VALID_SHARE


def _soft(valid: np.ndarray) -> np.ndarray:
    # A soft mask: a hard one would draw the outline of every occlusion into the colour.
    return cv2.blur(valid.astype(np.float32), (3, 3))


@dataclass
class Motion:
    """How frame t follows frame t-1 (at the working size).

    Attributes:
        backward: ``(h, w, 2)`` float32, each pixel of t to where it was in t-1 (carries colour forward).
        forward: ``(h, w, 2)`` float32, each pixel of t-1 to where it went in t (carries colour backward).
        valid: ``(h, w)`` float32 in [0, 1], where ``backward`` holds (softened).
        valid_previous: ``(h, w)`` float32 in [0, 1], where ``forward`` holds (softened).
    """

    backward: np.ndarray
    forward: np.ndarray
    valid: np.ndarray
    valid_previous: np.ndarray


@dataclass
class ShotTracker:
    """Called once per frame in order: the frame's :class:`Motion` from the one before, and whether it is a keyframe.

    Runs where frames are decoded, before the generator, so that only keyframes go through it.

    Args:
        interval: the generator colours at least every ``interval``-th frame (1: every frame).
        preset: the DIS preset (``ultrafast``, ``fast``, ``medium``).

    Attributes:
        cuts: frame indices where a new shot started.
    """

    interval: int = 1
    preset: str = "medium"
    cuts: list[int] = field(default_factory=list)
    _previous: np.ndarray | None = field(default=None, repr=False)
    _carried: np.ndarray | None = field(default=None, repr=False)
    _since_key: int = field(default=0, repr=False)
    _frame: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.interval, bool) or not isinstance(self.interval, int) or self.interval < 1:
            raise ValueError(f"keyframe interval must be an int >= 1, got {self.interval!r}")
        self._dis = dis_flow(self.preset)

    def __call__(self, lightness: np.ndarray) -> tuple[Motion | None, bool]:
        """``(motion, is_key)`` for the next frame's ``(h, w)`` uint8 lightness; motion is None where a shot starts."""
        index, previous, self._frame = self._frame, self._previous, self._frame + 1
        self._previous = lightness
        motion = None
        if previous is not None:
            _check_pair(previous, lightness)
            if not is_cut(previous, lightness):  # the histograms first: no flow across an obvious cut
                backward, forward, valid = _flow_pair(self._dis, previous, lightness)
                if valid.mean() >= MIN_VALID_SHARE:  # is_cut's second rule, the histograms already checked
                    valid_previous = _holds(forward, backward, lightness, previous)
                    motion = Motion(backward, forward, _soft(valid), _soft(valid_previous))
            if motion is None:
                self.cuts.append(index)
        if motion is None:
            key = True
        else:
            self._since_key += 1
            self._carried = warp(self._carried, motion.backward) * motion.valid
            key = self._since_key >= self.interval or float(self._carried.mean()) < MIN_CARRIED_SHARE
        if key:
            self._since_key = 0
            self._carried = np.ones(lightness.shape, np.float32)
        return motion, key


@dataclass
class _Pending:
    item: Any
    motion: Motion
    carried: np.ndarray  # (h, w, 2) a*b* carried forward from the last keyframe
    confidence: np.ndarray  # (h, w)


class ColourCarrier:
    """Turns keyframes' predictions into every frame's a*b* (the module docstring): call :meth:`push` in frame order.

    A frame between two keyframes is held until the later one arrives (at most ``interval - 1`` of
    them), then given back with its colour; :meth:`finish` gives back the frames after the last
    keyframe, coloured from it alone.

    Args:
        strength: in [0, 1): how much of the carried colour a keyframe keeps where the flow holds; 0: none.
    """

    def __init__(self, strength: float = 0.8) -> None:
        if not 0 <= strength < 1:
            raise ValueError(f"steady strength must be in [0, 1) (0 = per-frame), got {strength}")
        self.strength = strength
        self._carried: tuple[np.ndarray, np.ndarray] | None = None  # (h, w, 2) a*b*, (h, w) confidence
        self._pending: list[_Pending] = []

    def push(self, item: Any, motion: Motion | None, prediction: np.ndarray | None) -> list[tuple[Any, np.ndarray]]:
        """Add the next frame; returns the frames now coloured, in order, as ``(item, (2, h, w) a*b*)``.

        Args:
            item: anything that names the frame; given back with its colour.
            motion: from the frame before (:class:`ShotTracker`); None where a shot starts.
            prediction: the generator's ``(2, h, w)`` float32 a*b* for a keyframe; None for the frames between.
        """
        if motion is None:
            if prediction is None:
                raise ValueError("the first frame of a shot needs the generator's prediction")
            done = self._release(None)
            self._carried = (np.ascontiguousarray(prediction.transpose(1, 2, 0)), _ones(prediction))
            return [*done, (item, prediction)]
        if self._carried is None:
            raise ValueError("a frame with motion needs a frame before it")
        ab, confidence = self._carried
        ab, confidence = warp(ab, motion.backward), warp(confidence, motion.backward) * motion.valid
        if prediction is None:
            self._pending.append(_Pending(item, motion, ab, confidence))
            self._carried = (ab, confidence)
            return []
        weight = (self.strength * confidence)[None]
        steadied = (prediction + weight * (ab.transpose(2, 0, 1) - prediction)).astype(np.float32)
        channels_last = np.ascontiguousarray(steadied.transpose(1, 2, 0))
        done = self._release(channels_last, motion)
        self._carried = (channels_last, _ones(steadied))
        return [*done, (item, steadied)]

    def finish(self) -> list[tuple[Any, np.ndarray]]:
        """The frames after the last keyframe, coloured from it alone; the carrier is then ready for a new film."""
        done = self._release(None)
        self._carried = None
        return done

    def _release(self, key_ab: np.ndarray | None, key_motion: Motion | None = None) -> list[tuple[Any, np.ndarray]]:
        """Colour the held frames: forward-carried colour, blended with ``key_ab`` carried backward when given."""
        pending, self._pending = self._pending, []
        if key_ab is None:
            return [(p.item, p.carried.transpose(2, 0, 1).astype(np.float32)) for p in pending]
        count, out = len(pending), []
        back, back_confidence = key_ab, np.ones(key_ab.shape[:2], np.float32)
        motion = key_motion  # the motion from each held frame to the one after it
        for i in range(count - 1, -1, -1):
            back = warp(back, motion.forward)
            back_confidence = warp(back_confidence, motion.forward) * motion.valid_previous
            held = pending[i]
            # Nearness: frame i is i + 1 frames after the earlier keyframe and count - i before the later one.
            w_forward = (held.confidence + _CONFIDENCE_FLOOR) * (count - i)
            w_backward = (back_confidence + _CONFIDENCE_FLOOR) * (i + 1)
            blended = (w_forward[..., None] * held.carried + w_backward[..., None] * back) / (w_forward + w_backward)[
                ..., None
            ]
            out.append((held.item, np.ascontiguousarray(blended.transpose(2, 0, 1), dtype=np.float32)))
            motion = held.motion
        return out[::-1]


def _ones(ab: np.ndarray) -> np.ndarray:
    return np.ones(ab.shape[-2:], np.float32)
