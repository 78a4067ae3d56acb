"""Colorfulness of Hasler & Süsstrunk (2003), "Measuring colourfulness in natural images".

One implementation serves three uses: filtering near-gray photos out of the sample set,
skipping colorless training images, and the ΔCF evaluation metric (a GAN that paints
everything sepia scores well on L1 and pixel accuracy but loses here).
"""

from __future__ import annotations

import torch


def colorfulness(rgb: torch.Tensor) -> torch.Tensor:
    """M = σ_rgyb + 0.3·μ_rgyb per image, on the paper's 0–255 scale.

    Args:
        rgb: ``(*, 3, H, W)`` sRGB, uint8 in [0, 255] or float in [0, 1].

    Returns:
        ``(*)`` float32 scores: 0 for any gray image; Hasler & Süsstrunk call < 15
        "not colourful", 33 "moderately", > 59 "quite colourful".
    """
    if rgb.ndim < 3 or rgb.shape[-3] != 3:
        raise ValueError(f"rgb must have shape (*, 3, H, W), got {tuple(rgb.shape)}")
    x = rgb.float() if rgb.dtype == torch.uint8 else rgb.float() * 255.0
    r, g, b = x.unbind(dim=-3)
    rg = (r - g).flatten(-2)
    yb = (0.5 * (r + g) - b).flatten(-2)
    # Population std (unbiased=False), as in the paper's definition.
    sigma = torch.sqrt(rg.var(dim=-1, unbiased=False) + yb.var(dim=-1, unbiased=False))
    mu = torch.sqrt(rg.mean(dim=-1) ** 2 + yb.mean(dim=-1) ** 2)
    return sigma + 0.3 * mu
