"""Simulated colour hints (Zhang et al. 2017), drawn from the true a*b* of a batch on its device.

A user's hint says "this spot is this colour". Training teaches a generator to use such hints by
showing it hints taken from the photo's own colours: a few square patches, each painted with the
patch's mean a*b*, and a mask of where they are (the layout of :mod:`colorize.models.hints`).
Training draws them at random, beside the flips and crops (:func:`random_hints`); the test sweep
draws a fixed number with a fixed seed (``colorize.evaluation.hints``), both through
:func:`draw_boxes` and :func:`paint_hints`, so the two protocols differ only in their numbers.

Zhang et al.'s choices (``richzhang/colorization-pytorch``, ``util.add_color_patches_rand_gt``):
the number of hints per photo is geometric, a photo keeps receiving one more with probability
``1 - p`` (p = 1/8: one photo in eight gets none, the mean is 7); each patch's side is drawn
uniformly from 1..9 px; its corner is drawn from a normal around the image centre (standard
deviation a quarter of the side) or uniformly; later patches paint over earlier ones.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

__all__ = ["LOCATIONS", "draw_boxes", "paint_hints", "random_hints"]

LOCATIONS = ("normal", "uniform")

#: Cap on the hints of one training photo; with p = 1/8 a photo exceeds it with probability 0.875**65 < 2e-4.
MAX_TRAINING_HINTS = 64


def draw_boxes(
    counts: torch.Tensor,
    height: int,
    width: int,
    sizes: tuple[int, int],
    locations: Literal["normal", "uniform"] = "normal",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Patches for each photo: ``(B, K, 4)`` int64 rows ``(y0, x0, side, valid)``, ``K = max(counts)``.

    Args:
        counts: ``(B,)`` hints per photo; rows past a photo's count have ``valid = 0``.
        height, width: the image size; every patch lies inside it.
        sizes: ``(min, max)`` side of the square patches in pixels, drawn uniformly (inclusive).
        locations: ``normal``: each corner coordinate from N((n - side + 1) / 2, (n - side + 1) / 4),
            clipped to the image (Zhang's centre bias); ``uniform``: any position.
        generator: a CPU generator for reproducible draws (the draws are tiny, the painting is on the device).
    """
    if locations not in LOCATIONS:
        raise ValueError(f"hint locations must be one of {LOCATIONS}, got {locations!r}")
    lo, hi = int(sizes[0]), int(sizes[1])
    if not 1 <= lo <= hi or hi > min(height, width):
        raise ValueError(f"hint sizes must satisfy 1 <= min <= max <= {min(height, width)}, got {list(sizes)}")
    b = counts.shape[0]
    k = int(counts.max()) if b else 0
    side = torch.randint(lo, hi + 1, (b, k), generator=generator)
    corners = []
    for n in (height, width):
        room = n - side + 1  # positions a patch of this side can take
        if locations == "normal":
            draw = torch.randn((b, k), generator=generator, dtype=torch.float64)
            corner = (room / 2 + room / 4 * draw).floor().long()
        else:
            corner = (torch.rand((b, k), generator=generator, dtype=torch.float64) * room).floor().long()
        corners.append(torch.minimum(corner.clamp(min=0), room - 1))
    valid = torch.arange(k).view(1, k) < counts.view(b, 1).cpu()
    return torch.stack([corners[0], corners[1], side, valid.long()], dim=-1)


def paint_hints(ab: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Hints ``(B, 3, H, W)`` from true ``ab`` ``(B, 2, H, W)``: each valid box painted with its mean ab, and a mask.

    Boxes (from :func:`draw_boxes`) are painted in order, later over earlier, as Zhang's loop
    does; each one's colour is the mean of the *true* ab under it. Same device and dtype as ``ab``.
    """
    if ab.ndim != 4 or ab.shape[1] != 2:
        raise ValueError(f"ab must have shape (B, 2, H, W), got {tuple(ab.shape)}")
    hints = ab.new_zeros((ab.shape[0], 3, *ab.shape[-2:]))
    # One slice per hint (a photo has ~7): far cheaper than masks over the whole image per hint.
    for i, rows in enumerate(boxes.tolist()):
        for y0, x0, side, valid in rows:
            if valid:
                window = (i, slice(None, 2), slice(y0, y0 + side), slice(x0, x0 + side))
                hints[window] = ab[i, :, y0 : y0 + side, x0 : x0 + side].mean((1, 2), keepdim=True)
                hints[i, 2, y0 : y0 + side, x0 : x0 + side] = 1
    return hints


def random_hints(
    ab: torch.Tensor,
    p: float = 1 / 8,
    sizes: tuple[int, int] = (1, 9),
    locations: Literal["normal", "uniform"] = "normal",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Training hints for a batch: a geometric number per photo (stop probability ``p``), see the module docstring.

    Args:
        ab: ``(B, 2, H, W)`` true normalized ab, on any device.
        p: the probability of stopping before each further hint: ``P(n) = (1 - p)**n * p``, mean
            ``(1 - p) / p``; capped at :data:`MAX_TRAINING_HINTS`.
        sizes, locations, generator: as :func:`draw_boxes`.

    Returns:
        ``(B, 3, H, W)`` hints: ab of hinted pixels, 0 elsewhere, then the 0/1 mask.
    """
    if not 0 < p <= 1:
        raise ValueError(f"the hint stop probability p must be in (0, 1], got {p}")
    b, _, h, w = ab.shape
    u = 1 - torch.rand(b, generator=generator, dtype=torch.float64)  # in (0, 1]
    counts = (torch.zeros(b) if p == 1 else (u.log() / math.log(1 - p)).floor()).long().clamp(max=MAX_TRAINING_HINTS)
    return paint_hints(ab, draw_boxes(counts, h, w, sizes, locations, generator))
