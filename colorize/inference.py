"""Colorize real photographs at their own resolution.

Why not just feed the photo to the generator: it was trained at one resolution (256 px
in the paper) and its encoder needs sides that are multiples of its ``stride``. A
phone photo is neither. So only the *colour* is predicted at the working resolution:

1. L of the full-resolution input (colour inputs are reduced to their lightness);
2. L resized (antialiased) to :func:`working_size`: the shorter side near the training
   size, both sides multiples of the stride, the aspect ratio kept;
3. the generator predicts ab there;
4. ab is upsampled (bilinear) to the input's H x W and joined with the *original*
   full-resolution L.

Chroma is smooth and the eye reads detail from lightness, so step 4 keeps every edge and
texture of the input: the output's L* equals the input's except where the predicted colour
falls outside the sRGB gamut at that lightness and is clipped, and for uint8 rounding
(at most ~0.3 L* units when no channel saturates).
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from colorize.color import normalized_lab_to_rgb, rgb_to_normalized_l, to_uint8_image

__all__ = ["colorize_image", "working_size"]


def working_size(height: int, width: int, target: int, stride: int) -> tuple[int, int]:
    """The size ``(h, w)`` the generator runs at for an ``height x width`` photo.

    The shorter side is scaled to about ``target`` (the training resolution), the longer
    one by the same factor, and each side is rounded to the nearest positive multiple of
    ``stride``, so the aspect ratio is kept up to at most ``stride / 2`` pixels per side
    and no side is ever 0.

    Raises:
        ValueError: if any argument is not a positive integer.
    """
    for name, value in (("height", height), ("width", width), ("target", target), ("stride", stride)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    scale = target / min(height, width)

    def snap(side: int) -> int:
        # floor(x + 0.5), not round(): Python's round() sends halves to the even multiple.
        return max(stride, int(side * scale / stride + 0.5) * stride)

    return snap(height), snap(width)


def _device_and_dtype(module: nn.Module) -> tuple[torch.device, torch.dtype]:
    """Where and in which float type the module computes; CPU float32 if it holds no tensors."""
    for tensor in itertools.chain(module.parameters(), module.buffers()):
        if tensor.is_floating_point():
            return tensor.device, tensor.dtype
    return torch.device("cpu"), torch.float32


def colorize_image(
    generator: nn.Module,
    image: torch.Tensor,
    *,
    target_size: int,
    stride: int | None = None,
) -> torch.Tensor:
    """Colorize one photograph, keeping its resolution and its lightness.

    Args:
        generator: maps ``(B, 1, h, w)`` L in [-1, 1] to ``(B, 2, h, w)`` ab in [-1, 1];
            run in eval mode without gradients on its own device and dtype (its training
            mode is restored afterwards).
        image: ``(3, H, W)`` sRGB or ``(1, H, W)`` gray, uint8 in [0, 255] or float in
            [0, 1], any H and W. Colour inputs are reduced to their L (their colour is
            never shown to the generator).
        target_size: the resolution the generator was trained at; the shorter side of the
            working size is about this many pixels.
        stride: the generator's size multiple; defaults to ``generator.stride`` (1 if the
            generator has none).

    Returns:
        ``(3, H, W)`` uint8 sRGB on the generator's device, whose L* equals the input's up
        to uint8 rounding except at out-of-gamut (clipped) pixels.

    Raises:
        ValueError: if ``image`` is not ``(1 or 3, H, W)``.
    """
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"image must have shape (3, H, W) or (1, H, W), got {tuple(image.shape)}")
    if stride is None:
        stride = int(getattr(generator, "stride", 1))
    device, dtype = _device_and_dtype(generator)
    height, width = image.shape[-2:]
    size = working_size(height, width, target_size, stride)

    # A gray image is R = G = B, which Lab maps to its lightness with a = b = 0.
    rgb = image.to(device).expand(3, -1, -1).unsqueeze(0)
    L = rgb_to_normalized_l(rgb)  # (1, 1, H, W) float32 in [-1, 1]
    # Antialiasing matters when shrinking a large photo: plain bilinear would alias fine texture.
    L_small = F.interpolate(L, size=size, mode="bilinear", antialias=True, align_corners=False)

    was_training = generator.training
    generator.eval()
    try:
        with torch.inference_mode():
            ab_small = generator(L_small.to(dtype))
    finally:
        generator.train(was_training)
    if ab_small.shape != (1, 2, *size):
        raise ValueError(f"generator must return (1, 2, {size[0]}, {size[1]}) ab, got {tuple(ab_small.shape)}")

    ab = F.interpolate(ab_small.float(), size=(height, width), mode="bilinear", align_corners=False)
    return to_uint8_image(normalized_lab_to_rgb(L, ab))[0]
