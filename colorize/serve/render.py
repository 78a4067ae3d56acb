"""The pictures the page shows: the gray the model sees, the colorized photo at a colour strength, previews.

Why the strength scales the generator's ab rather than the saturation of the finished RGB:
it acts on exactly what the model predicts, at the working resolution, and the input's
full-resolution L* is joined afterwards as always (:func:`colorize.inference.full_resolution.colorize_image`),
so the lightness stays the input's at every strength. 0 gives the gray input, 1 the model's
own output, 2 twice its chroma (clipped to the sRGB gamut). Colour hints, for a model that takes
them, go to the generator as in ``colorize predict --hints``, and the strength scales its output.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn

from colorize.atomic import atomic_open
from colorize.color import normalized_lab_to_rgb, to_uint8_image
from colorize.inference.full_resolution import colorize_image
from colorize.inference.hints import Hint
from colorize.inference.strips import strip_lightness, strip_rows

__all__ = ["MAX_STRENGTH", "PREVIEW_SIDE", "ScaledColor", "colorize_at_strength", "gray_of", "preview", "save_png"]

MAX_STRENGTH = 2.0
PREVIEW_SIDE = 2048
"""Longest side of the pictures shown on the page; the download keeps the photo's own size."""


class ScaledColor(nn.Module):
    """A generator whose ab output is multiplied by ``strength``; same stride, device and mode as the one it wraps."""

    def __init__(self, generator: nn.Module, strength: float) -> None:
        super().__init__()
        self.generator = generator
        self.strength = float(strength)
        self.stride = int(getattr(generator, "stride", 1))
        # colorize_image restores the wrapper's mode afterwards, and with it the wrapped generator's:
        # start in the generator's own mode so that it is left as it was.
        self.train(generator.training)

    @property
    def takes_hints(self) -> bool:
        return bool(getattr(self.generator, "takes_hints", False))

    def forward(self, L: torch.Tensor, hints: torch.Tensor | None = None) -> torch.Tensor:
        ab = self.generator(L) if hints is None else self.generator(L, hints)
        return ab * self.strength


def colorize_at_strength(
    colorizer, rgb: torch.Tensor, strength: float = 1.0, hints: Sequence[Hint] = ()
) -> torch.Tensor:
    """Colorize uint8 ``(3, H, W)`` ``rgb`` at full resolution with ab scaled by ``strength``.

    Args:
        colorizer: a :class:`colorize.inference.colorizer.Colorizer` (``generator``, ``image_size``, ``colorize``).
        strength: in [0, :data:`MAX_STRENGTH`]; exactly 1 is ``colorizer.colorize(rgb, hints=hints)`` itself.
        hints: colour hints in the photo's pixels, checked (:func:`colorize.inference.hints.parse_hints`);
            only for a model that takes them (``ValueError`` otherwise).

    Returns:
        uint8 ``(3, H, W)`` on the CPU.

    Raises:
        ValueError: ``strength`` outside [0, :data:`MAX_STRENGTH`] or not a number; hints for a
            model that takes none.
    """
    if not 0.0 <= strength <= MAX_STRENGTH:  # also False for NaN
        raise ValueError(f"strength must be in [0, {MAX_STRENGTH:g}], got {strength}")
    hints = list(hints) or None
    if strength == 1.0:
        return colorizer.colorize(rgb, hints=hints).cpu()
    scaled = ScaledColor(colorizer.network, strength)
    return colorize_image(scaled, rgb, target_size=colorizer.image_size, hints=hints).cpu()


def gray_of(rgb: torch.Tensor) -> torch.Tensor:
    """What the model sees of a photo: its L* shown as gray (a = b = 0), uint8 ``(3, H, W)``.

    Strip by strip (:mod:`colorize.inference.strips`): float32 Lab of a whole 100 MP photo would be GBs.
    """
    out = torch.empty((1, *rgb.shape[-2:]), dtype=torch.uint8)
    rows = strip_rows(rgb.shape[-1])
    for top in range(0, rgb.shape[-2], rows):
        L = strip_lightness(rgb[:, top : top + rows])
        gray = normalized_lab_to_rgb(L, L.new_zeros(1, 2, *L.shape[-2:]))[0]
        # a = b = 0 is R = G = B up to float error; one channel value for all three makes it exactly gray.
        out[:, top : top + rows] = to_uint8_image(gray.mean(dim=0, keepdim=True))
    return out.expand(3, -1, -1).contiguous()


def preview(rgb: torch.Tensor, max_side: int = PREVIEW_SIDE) -> torch.Tensor:
    """``rgb`` shrunk (Lanczos) so that its longer side is at most ``max_side``; returned as is when it fits."""
    height, width = rgb.shape[-2:]
    scale = max_side / max(height, width)
    if scale >= 1:
        return rgb
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    image = Image.fromarray(rgb.permute(1, 2, 0).numpy()).resize(size, Image.Resampling.LANCZOS)
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)


def save_png(image: torch.Tensor, path, fast: bool = False) -> None:
    """Write uint8 ``(3, H, W)`` as PNG, atomically; ``fast`` trades ~1.5x the bytes for ~3x the speed.

    Why fast for full-resolution results: the file goes to a browser on the same machine, and
    zlib level 6 spends 17 s on a 40 megapixel photo on a 2-core CPU.
    """
    if image.ndim != 3 or image.shape[0] != 3 or image.dtype != torch.uint8:
        raise ValueError(f"image must be uint8 (3, H, W), got {image.dtype} {tuple(image.shape)}")
    pil = Image.fromarray(image.permute(1, 2, 0).contiguous().numpy())
    with atomic_open(path, "wb") as handle:
        pil.save(handle, format="PNG", compress_level=1 if fast else 6)
