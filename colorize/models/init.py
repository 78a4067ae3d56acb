"""Weight initialization shared by the generators and the discriminator.

Two schemes, both from the papers the models come from:

- :func:`init_normal_`: pix2pix's (and the paper's) N(0, 0.02) init. The paper found Xavier
  init could make the discriminator too strong from the first step, so the generator never caught up.
- :func:`icnr_`: Aitken et al. 2017, "Checkerboard artifact free sub-pixel convolution": a sub-pixel
  convolution followed by ``PixelShuffle`` starts out as nearest-neighbour upsampling, so the
  generator has no checkerboard pattern to unlearn.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["icnr_", "init_normal_"]


def init_normal_(module: nn.Module, std: float = 0.02) -> nn.Module:
    """Initialize every convolution and batch norm below ``module`` in place; returns ``module``.

    Convolutions get weights ~ N(0, std) and zero bias; normalization layers with an affine
    part get weight ~ N(1, std) and zero bias. Every other layer is left alone.

    Convolutions are found with ``isinstance(m, nn.modules.conv._ConvNd)``, which covers
    ``ConvTranspose*d`` too; matching class names, as the paper's code did, is brittle and left
    the UNet's transposed convolutions at PyTorch's default init.
    """
    if std <= 0:
        raise ValueError(f"std must be positive, got {std}")
    for m in module.modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._NormBase) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)
    return module


def icnr_(
    weight: torch.Tensor,
    scale: int = 2,
    init: Callable[[torch.Tensor], object] = nn.init.kaiming_normal_,
) -> torch.Tensor:
    """ICNR-initialize, in place, the weight of a conv that feeds ``nn.PixelShuffle(scale)``.

    ``weight`` is ``(C * scale**2, C_in, *kernel)``. ``PixelShuffle`` sends output channels
    ``c * scale**2 ... c * scale**2 + scale**2 - 1`` to the ``scale x scale`` sub-pixels of channel
    ``c``; giving those ``scale**2`` channels one shared kernel (drawn by ``init`` as a
    ``(C, C_in, *kernel)`` tensor) makes every ``scale x scale`` output block constant, i.e. the
    block starts as nearest-neighbour upsampling of a plain ``C``-channel conv. The bias, if any,
    must be constant per group for this to hold; zero (what :func:`init_normal_` sets) is.

    Returns ``weight``.
    """
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    groups = scale**2
    if weight.ndim < 3 or weight.shape[0] % groups:
        raise ValueError(
            f"icnr_ expects a conv weight (C * {groups}, C_in, *kernel) for scale {scale}, got {tuple(weight.shape)}"
        )
    sub = torch.empty((weight.shape[0] // groups, *weight.shape[1:]), dtype=weight.dtype, device=weight.device)
    init(sub)
    with torch.no_grad():
        weight.copy_(sub.repeat_interleave(groups, dim=0))
    return weight
