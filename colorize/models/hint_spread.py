"""Hints spread over the whole image, at every resolution of a decoder: an edge-aware pull-push.

A hint covers a few pixels, and a convolution sees only its neighbours: a network that reads the
hints only at its input must learn to carry a colour across the image through its whole depth,
which a few hundred training steps do not teach (docs/hints.md measured a hint model that ignored
its hints). So the generator also reads, at each decoder level, a dense summary of the hints at
that level's resolution. It has no weights:

- **pull** (Gortler et al. 1996): the hinted a*b*, and the lightness L under the hints, are
  averaged into cells of 2, 4, 8, ... pixels up to the whole image;
- **push**, from the whole image down: a cell holding hints keeps their mean; any other cell takes
  a weighted mean of the 3x3 coarser cells around it, weighted by distance and, as Levin et al.
  2004 weigh neighbours, by how close the cell's own lightness is to the lightness under those
  cells' hints (a joint bilateral upsampling, Kopf et al. 2007). So a colour flows to the parts of
  the photo that look like where it was given, and less across edges.

What a level gets is the filled a*b* (2 channels) and a confidence (1 channel): 1 where the cell
holds a hint, halved for each level the value had to come down from, so it says how far the
nearest hint is, on a log scale. With no hints every channel is 0, so a hint model given no hints
computes exactly what the hint-free network does (its hint weights multiply zeros).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["SPREAD_CHANNELS", "spread_hints"]

#: filled a*b* and confidence.
SPREAD_CHANNELS = 3

_CONFIDENCE_DECAY = 0.5
#: Spatial reach of the push, in coarse cells (a Gaussian's sigma over the 3x3 coarser neighbours).
_SPATIAL_SIGMA = 0.6
#: Lightness similarity of the push, in normalized L (L* / 50): about 5 L* units.
_LIGHTNESS_SIGMA = 0.1
#: How much nearer information outweighs farther: a neighbour weighs its confidence to this power.
_CONFIDENCE_POWER = 2
#: The least a neighbour weighs for its lightness: where no neighbour looks alike, distance decides.
_LIGHTNESS_FLOOR = 1e-3


@torch.no_grad()
def spread_hints(hints: torch.Tensor, levels: int, lightness: torch.Tensor | None = None) -> list[torch.Tensor]:
    """``hints`` ``(B, 3, H, W)`` (a*b* of hinted pixels, mask) -> ``levels`` maps ``(B, 3, ceil(H / 2**k), ...)``.

    Level ``k`` has the resolution of ``H / 2**k`` (rounded up); each is ``cat(filled ab, confidence)``
    (see the module's docstring). ``lightness`` ``(B, 1, H, W)`` is the photo's normalized L, which
    makes the push edge-aware; without it the push weighs distance only. The coarsest pulled level is
    the whole image (1x1), however many levels are returned, so a single hint reaches every pixel.
    Computed in fp32 and returned in the hints' dtype; no gradient (the hints are data).
    """
    if levels < 1:
        raise ValueError(f"levels must be >= 1, got {levels}")
    dtype = hints.dtype
    hints = hints.float()
    mass = hints[:, 2:3]
    guide = torch.zeros_like(mass) if lightness is None else lightness.float()
    # Per level: the sums of a*b* and of L under the hints, the hints' mass, and the image's mean L.
    pulled = [(torch.cat([hints[:, :2] * mass, guide * mass], dim=1), mass, guide)]
    while max(pulled[-1][1].shape[-2:]) > 1:
        # ceil_mode keeps odd sizes; count_include_pad=False averages only the pixels a cell holds.
        pulled.append(tuple(F.avg_pool2d(t, 2, ceil_mode=True, count_include_pad=False) for t in pulled[-1]))
    filled: list[torch.Tensor] = []
    coarse = None  # (B, 4, h, w): filled a*b*, L under the hints, confidence
    for sums, level_mass, level_lightness in reversed(pulled):
        held = level_mass > 0
        own = sums / level_mass.clamp_min(1e-12)
        if coarse is None:
            coarse = torch.cat([torch.where(held, own, 0.0), held.float()], dim=1)
        else:
            pushed = _push(coarse, level_lightness, lightness is not None)
            kept = torch.cat([own, torch.ones_like(level_mass)], dim=1)
            confidence = pushed[:, 3:] * _CONFIDENCE_DECAY
            coarse = torch.where(held, kept, torch.cat([pushed[:, :3], confidence], dim=1))
        filled.append(torch.cat([coarse[:, :2], coarse[:, 3:]], dim=1))
    filled.reverse()  # finest first
    if len(filled) < levels:
        raise ValueError(f"a {tuple(hints.shape[-2:])} image has only {len(filled)} levels, {levels} asked for")
    return [level.to(dtype) for level in filled[:levels]]


def _push(coarse: torch.Tensor, lightness: torch.Tensor, edge_aware: bool) -> torch.Tensor:
    """``coarse`` ``(B, 4, h, w)`` onto the finer level of ``lightness``'s size: each fine cell's weighted
    mean of the 3x3 coarse cells around its parent (weights: distance, lightness; 0 where no hint reached)."""
    b, c, h, w = coarse.shape
    fine_h, fine_w = lightness.shape[-2:]
    # The 3x3 neighbourhood of every coarse cell, borders replicated, then each fine cell's parent's.
    padded = F.pad(coarse, (1, 1, 1, 1), mode="replicate")
    neighbours = F.unfold(padded, 3).view(b, c, 9, h, w)
    rows = torch.arange(fine_h, device=coarse.device)
    cols = torch.arange(fine_w, device=coarse.device)
    neighbours = neighbours[..., rows // 2, :][..., cols // 2]  # (B, C, 9, H, W)
    # Distance from each fine cell's centre to the 9 coarse centres, in coarse cells: the parent's centre
    # is 0.25 away (up/left for even rows/columns, down/right for odd), its neighbours one cell further.
    offset_y = torch.arange(3, device=coarse.device).repeat_interleave(3).float() - 1  # (9,)
    offset_x = torch.arange(3, device=coarse.device).repeat(3).float() - 1
    frac_y = (rows % 2).float() * 0.5 - 0.25  # (H,)
    frac_x = (cols % 2).float() * 0.5 - 0.25
    dy = offset_y[:, None, None] - frac_y[None, :, None]
    dx = offset_x[:, None, None] - frac_x[None, None, :]
    weight = torch.exp(-(dy**2 + dx**2) / (2 * _SPATIAL_SIGMA**2))[None]  # (1, 9, H, W)
    if edge_aware:
        alike = torch.exp(-((lightness - neighbours[:, 2]) ** 2) / (2 * _LIGHTNESS_SIGMA**2))
        weight = weight * (alike + _LIGHTNESS_FLOOR)
    # Nearer information first: a cell holding a hint (confidence 1) outweighs one filled from far above
    # it, so a hint's colour is not diluted by the whole image's mean on its way down; cells no hint
    # reached (no hints at all) carry nothing.
    weight = weight * neighbours[:, 3] ** _CONFIDENCE_POWER
    total = weight.sum(1, keepdim=True)
    mean = (neighbours * weight[:, None]).sum(2) / total.clamp_min(1e-12)
    return torch.where(total > 0, mean, 0.0)
