"""L*a*b* conversion and the network's value ranges, in one place.

Every tensor a network sees or returns is *normalized* Lab:

- ``L`` in [-1, 1]  = L* / 50 - 1           (L* in [0, 100])
- ``ab`` ~ [-1, 1]  = (a*, b*) / 110        (sRGB gamut spans about ±110 in a*, b*)

The constants match the paper's code (and the tutorial it builds on), so a threshold
of ``t`` in the paper's pixel accuracy is ``2.2 * t`` in normalized ab units.
Conversions run with kornia on whatever device the batch is on.
"""

from __future__ import annotations

import torch
from kornia.color import lab_to_rgb, rgb_to_lab

L_SCALE = 50.0
L_OFFSET = 1.0
AB_SCALE = 110.0


def _check_channels(x: torch.Tensor, channels: int, name: str) -> None:
    if x.ndim < 3 or x.shape[-3] != channels:
        raise ValueError(f"{name} must have shape (*, {channels}, H, W), got {tuple(x.shape)}")


def normalize_lab(lab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split raw Lab ``(*, 3, H, W)`` into normalized ``L (*, 1, H, W)`` and ``ab (*, 2, H, W)``."""
    _check_channels(lab, 3, "lab")
    L = lab[..., :1, :, :] / L_SCALE - L_OFFSET
    ab = lab[..., 1:, :, :] / AB_SCALE
    return L, ab


def denormalize_lab(L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`normalize_lab`: raw Lab ``(*, 3, H, W)``, L* in [0, 100]."""
    _check_channels(L, 1, "L")
    _check_channels(ab, 2, "ab")
    return torch.cat([(L + L_OFFSET) * L_SCALE, ab * AB_SCALE], dim=-3)


def rgb_to_normalized_lab(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """sRGB ``(*, 3, H, W)`` — uint8 in [0, 255] or float in [0, 1] — to normalized ``(L, ab)``.

    The conversion runs in float32 even under autocast: bf16 has 8 bits of mantissa,
    too few for the cube roots of the Lab transfer function.
    """
    _check_channels(rgb, 3, "rgb")
    rgb = rgb.float() / 255.0 if rgb.dtype == torch.uint8 else rgb.float()
    with torch.autocast(device_type=rgb.device.type, enabled=False):
        return normalize_lab(rgb_to_lab(rgb))


def normalized_lab_to_rgb(L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """Normalized ``(L, ab)`` to sRGB float ``(*, 3, H, W)`` in [0, 1] (clipped to the gamut)."""
    with torch.autocast(device_type=L.device.type, enabled=False):
        lab = denormalize_lab(L.float(), ab.float())
        return lab_to_rgb(lab, clip=True)


def rgb_to_normalized_l(rgb: torch.Tensor) -> torch.Tensor:
    """Only the normalized lightness of an sRGB image: the generator's input."""
    return rgb_to_normalized_lab(rgb)[0]


def to_uint8_image(rgb: torch.Tensor) -> torch.Tensor:
    """Float sRGB in [0, 1] to uint8, rounding rather than truncating."""
    return (rgb.clamp(0, 1) * 255.0).round().to(torch.uint8)
