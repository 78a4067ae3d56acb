"""Full-resolution colour in horizontal strips, so memory does not grow with the photo.

Only the generator needs the whole photo, and only at its working size (about 128 x 190
pixels). Every step at full resolution runs on one band of rows at a time, in float32:

- :func:`strip_lightness`: a band of the input -> its normalized L;
- :func:`working_lightness`: the antialiased reduction to the working size, band by band;
- :func:`upsample_ab_rows`: the bilinear upsampling of the small ab map for one band;
- :func:`join_strip`: L and ab of one band -> sRGB in [0, 1].

Why there are no seams: each step computes, for the rows of its band, exactly what the
whole-image operation computes for those rows. The antialiased reduction is separable, and
PyTorch runs it as a horizontal pass, then a vertical one: a band's horizontal pass (its
height unchanged, which is the identity) is bit for bit the whole image's, and the vertical
pass then runs on the small ``H x w`` intermediate. The upsampling evaluates
``F.interpolate(mode="bilinear", align_corners=False)``'s own source coordinates and weights
for the band's rows (in float32, as PyTorch does); only the order of its two float additions
differs, a few 1e-6 in ab. The Lab conversions are per pixel.

Photos here are ``(1 or 3, H, W)`` tensors: uint8 (0-255), uint16 (0-65535, a 16-bit scan)
or float in [0, 1]; one channel is gray. Gray integer photos go through a lookup table of
every level's L (256 or 65536 entries, made by the same conversion), so a strip's L costs a
gather instead of the Lab formula.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from colorize.color import normalized_lab_to_rgb, rgb_to_normalized_l

__all__ = [
    "STRIP_PIXELS",
    "join_strip",
    "lightness_on",
    "max_level",
    "strip_lightness",
    "strip_rows",
    "upsample_ab_rows",
    "working_lightness",
]

#: Full-resolution pixels per strip: about 2 MP, so a strip's float32 temporaries (Lab, RGB, a few
#: kornia intermediates) stay near 100 MB whatever the photo's size, and one strip is large enough
#: that the per-strip overhead (a few kernel launches) is noise.
STRIP_PIXELS = 2**21


def strip_rows(width: int, strip_pixels: int = STRIP_PIXELS) -> int:
    """Rows per strip for a photo ``width`` pixels wide (at least 1)."""
    return max(1, strip_pixels // max(1, width))


def max_level(dtype: torch.dtype) -> float:
    """The value that stands for white: 255 for uint8, 65535 for uint16, 1 for float."""
    if dtype == torch.uint8:
        return 255.0
    if dtype == torch.uint16:
        return 65535.0
    if dtype.is_floating_point:
        return 1.0
    raise ValueError(f"photos must be uint8, uint16 or float, got {dtype}")


@functools.lru_cache(maxsize=4)
def _gray_lut(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Normalized L of every gray level of ``dtype``, computed by the conversion the photo would get."""
    levels = torch.arange(int(max_level(dtype)) + 1, dtype=torch.int32, device=device).to(dtype)
    rgb = _as_float_rgb(levels.view(1, 1, -1).expand(3, 1, -1))
    return rgb_to_normalized_l(rgb.unsqueeze(0)).flatten()


def _as_float_rgb(pixels: torch.Tensor) -> torch.Tensor:
    # uint8 stays uint8: rgb_to_normalized_lab divides by 255 itself (today's path, bit for bit).
    if pixels.dtype == torch.uint8 or pixels.dtype.is_floating_point:
        return pixels
    return pixels.float() / max_level(pixels.dtype)


def strip_lightness(strip: torch.Tensor) -> torch.Tensor:
    """Normalized L ``(1, 1, h, W)`` float32 of a band ``(1 or 3, h, W)`` of a photo.

    Raises:
        ValueError: if the band is not ``(1 or 3, h, W)`` uint8, uint16 or float.
    """
    if strip.ndim != 3 or strip.shape[0] not in (1, 3):
        raise ValueError(f"a strip must have shape (3, h, W) or (1, h, W), got {tuple(strip.shape)}")
    max_level(strip.dtype)
    if strip.shape[0] == 1 and not strip.dtype.is_floating_point:
        # .int(): gather indices; uint16 has no index kernels of its own.
        return _gray_lut(strip.dtype, strip.device)[strip[0].int()].unsqueeze(0).unsqueeze(0)
    # A gray image is R = G = B, which Lab maps to its lightness with a = b = 0.
    return rgb_to_normalized_l(_as_float_rgb(strip.expand(3, -1, -1)).unsqueeze(0))


def lightness_on(strip: torch.Tensor, device: torch.device) -> torch.Tensor:
    """:func:`strip_lightness` of a band, as float32 on ``device``.

    A uint16 band's L is computed where the band is (the CPU, from a file) and then moved:
    PyTorch's uint16 has few kernels beyond copies, on CUDA fewer still.
    """
    if strip.dtype == torch.uint16:
        return strip_lightness(strip).to(device)
    return strip_lightness(strip.to(device))


def _bands(height: int, rows: int):
    for top in range(0, height, rows):
        yield top, min(top + rows, height)


def working_lightness(
    image: torch.Tensor, size: tuple[int, int], *, rows: int | None = None, device: torch.device | None = None
) -> torch.Tensor:
    """The generator's input: ``image``'s normalized L resized (antialiased, bilinear) to ``size``.

    Equals ``F.interpolate(L, size, mode="bilinear", antialias=True)`` of the whole photo's L,
    bit for bit, but holds only one band of float L at a time (``rows`` rows, default
    :func:`strip_rows`) and the ``H x w`` result of the horizontal pass.

    Returns:
        ``(1, 1, h, w)`` float32 on ``device`` (default: the image's).
    """
    device = image.device if device is None else device
    height, width = image.shape[-2:]
    rows = rows or strip_rows(width)
    h, w = size
    passes = []
    for top, bottom in _bands(height, rows):
        L = lightness_on(image[:, top:bottom], device)
        passes.append(F.interpolate(L, size=(bottom - top, w), mode="bilinear", antialias=True, align_corners=False))
    return F.interpolate(torch.cat(passes, dim=-2), size=(h, w), mode="bilinear", antialias=True, align_corners=False)


def upsample_ab_rows(ab: torch.Tensor, top: int, bottom: int, height: int, width: int) -> torch.Tensor:
    """Rows ``top:bottom`` of ``F.interpolate(ab, (height, width), mode="bilinear", align_corners=False)``.

    Args:
        ab: ``(1, 2, h, w)`` float32, the generator's working-size colour.

    Returns:
        ``(1, 2, bottom - top, width)`` float32, within a few 1e-6 of the whole-image upsampling.
    """
    h = ab.shape[-2]
    # PyTorch's source coordinate, in float32: scale * (dst + 0.5) - 0.5, clamped at 0.
    scale = torch.tensor(h, dtype=torch.float32) / height
    y = torch.arange(top, bottom, dtype=torch.float32)
    source = (scale * (y + 0.5) - 0.5).clamp(min=0)
    first = source.long()
    weight = (source - first).clamp(0, 1).to(ab.device).view(1, 1, -1, 1)
    second = (first + 1).clamp(max=h - 1)
    lo, hi = int(first[0]), int(second[-1]) + 1
    # Horizontal pass on the few source rows needed; their height is kept, which is the identity.
    band = F.interpolate(ab[:, :, lo:hi], size=(hi - lo, width), mode="bilinear", align_corners=False)
    first, second = (first - lo).to(ab.device), (second - lo).to(ab.device)
    return band[:, :, first] * (1 - weight) + band[:, :, second] * weight


def join_strip(L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """sRGB ``(1, 3, h, W)`` float32 in [0, 1] of a band's normalized L and ab (clipped to the gamut)."""
    return normalized_lab_to_rgb(L, ab)
