"""Hints spread over the whole image, at every resolution of a decoder (pull-push, Gortler et al. 1996).

A hint covers a few pixels, and a convolution sees only its neighbours: a network that reads the
hints only at its input must learn to carry a colour across the image through its whole depth,
which a few hundred training steps do not teach (docs/hints.md measured a hint model that ignored
its hints). So the generator also reads, at each decoder level, a dense summary of the hints at
that level's resolution. It has no weights: the hinted a*b* are averaged into cells of 2, 4, 8, ...
pixels up to the whole image ("pull"), then every cell without a hint takes the bilinearly
upsampled value of the coarser level ("push"). What a level gets is

- the filled a*b* (2 channels): exact on hinted pixels, the hints' mean of the smallest cell around
  a pixel that holds any, and a smooth blend between;
- a confidence (1 channel): 1 where the cell holds a hint, halved for each level the value had to
  come down from, so it says how far the nearest hint is, on a log scale.

With no hints every channel is 0, so a hint model given no hints computes exactly what the
hint-free network does (its hint weights multiply zeros).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["SPREAD_CHANNELS", "spread_hints"]

#: filled a*b* and confidence.
SPREAD_CHANNELS = 3

_CONFIDENCE_DECAY = 0.5


@torch.no_grad()
def spread_hints(hints: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """``hints`` ``(B, 3, H, W)`` (a*b* of hinted pixels, mask) -> ``levels`` maps ``(B, 3, ceil(H / 2**k), ...)``.

    Level ``k`` has the resolution of ``H / 2**k`` (rounded up); each is ``cat(filled ab, confidence)``
    (see the module's docstring). The coarsest pulled level is the whole image (1x1), however many
    levels are returned, so a single hint reaches every pixel. Computed in fp32 and returned in the
    hints' dtype; no gradient (the hints are data).
    """
    if levels < 1:
        raise ValueError(f"levels must be >= 1, got {levels}")
    dtype = hints.dtype
    hints = hints.float()
    mass = hints[:, 2:3]
    weighted = hints[:, :2] * mass
    sums, masses = [weighted], [mass]
    while max(masses[-1].shape[-2:]) > 1:
        # ceil_mode keeps odd sizes; count_include_pad=False averages only the pixels a cell holds.
        sums.append(F.avg_pool2d(sums[-1], 2, ceil_mode=True, count_include_pad=False))
        masses.append(F.avg_pool2d(masses[-1], 2, ceil_mode=True, count_include_pad=False))
    filled: list[torch.Tensor] = []
    fill = conf = None
    for level_sum, level_mass in zip(reversed(sums), reversed(masses), strict=True):
        held = level_mass > 0
        own = level_sum / level_mass.clamp_min(1e-12)
        if fill is None:
            fill, conf = torch.where(held, own, 0.0), held.float()
        else:
            size = level_mass.shape[-2:]
            fill_up = F.interpolate(fill, size=size, mode="bilinear", align_corners=False)
            conf_up = F.interpolate(conf, size=size, mode="bilinear", align_corners=False)
            fill = torch.where(held, own, fill_up)
            conf = torch.where(held, 1.0, _CONFIDENCE_DECAY * conf_up)
        filled.append(torch.cat([fill, conf], dim=1))
    filled.reverse()  # finest first
    if len(filled) < levels:
        raise ValueError(f"a {tuple(hints.shape[-2:])} image has only {len(filled)} levels, {levels} asked for")
    return [level.to(dtype) for level in filled[:levels]]
