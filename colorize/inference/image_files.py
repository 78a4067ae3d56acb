"""Image files written atomically, so a crash mid-write never leaves a half file under a result's name.

Shared by everything that writes pictures: ``colorize predict``'s writer, the validation and
test figures, the web page's downloads.
"""

from __future__ import annotations

import os

import torch
from PIL import Image

from colorize.atomic import atomic_open

__all__ = ["save_image_png"]


def save_image_png(image: torch.Tensor, path: str | os.PathLike) -> None:
    """Write a ``(3, H, W)`` or ``(1, H, W)`` uint8 image to ``path`` as PNG, atomically.

    Atomic (:mod:`colorize.atomic`): a crash mid-write never leaves a truncated PNG that a
    later step (or a person) takes for a result.
    """
    if image.ndim != 3 or image.shape[0] not in (1, 3) or image.dtype != torch.uint8:
        raise ValueError(f"image must be uint8 (3, H, W) or (1, H, W), got {image.dtype} {tuple(image.shape)}")
    array = image.detach().cpu().permute(1, 2, 0).numpy()
    pil = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    with atomic_open(path, "wb") as f:
        pil.save(f, format="PNG")
