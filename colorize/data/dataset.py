"""Datasets that turn photo files into uint8 tensors, and the collate functions that batch them.

The CPU workers only decode and resize: Lab conversion and flips run on the device after
the batch is transferred (see :mod:`colorize.data.datamodule`), where they are nearly free.
A bad file never stops training: the item becomes a *skip marker*
``{"skip": "unreadable" | "gray", "path": str}``, and the collate function counts markers so
the training loop can log how many photos were dropped.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from colorize.data.images import UnreadableImageError, has_color, load_rgb
from colorize.data.scans import load_scan

log = logging.getLogger(__name__)

SKIP_UNREADABLE = "unreadable"
SKIP_GRAY = "gray"


def _to_tensor(image: Image.Image) -> torch.Tensor:
    # np.array copies: torch.from_numpy on PIL's read-only buffer would warn.
    return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).contiguous()


def _load_or_mark(path: str) -> Image.Image | dict:
    try:
        return load_rgb(path)
    except UnreadableImageError as err:
        log.warning("Skipping unreadable image %s: %s", path, err.reason)
        return {"skip": SKIP_UNREADABLE, "path": path}


class _PhotoFiles(Dataset):
    """A list of photo files; loading one yields a PIL image, or a skip marker if it is unreadable."""

    def __init__(self, paths: Sequence[str | os.PathLike]):
        self.paths = [str(p) for p in paths]

    def __len__(self) -> int:
        return len(self.paths)

    def _load(self, index: int) -> tuple[str, Image.Image | dict]:
        path = self.paths[index]
        return path, _load_or_mark(path)


class PhotoDataset(_PhotoFiles):
    """Photos resized to ``image_size`` x ``image_size`` for training, validation and test.

    The paper resizes every photo to 256 x 256 with bicubic interpolation (PIL's, which
    antialiases when shrinking) and does not crop, so the aspect ratio is not kept.

    Args:
        paths: image files; an item's ``index`` is its position here.
        image_size: side S of the square output.
        skip_gray: mark photos without any color (see :func:`~colorize.data.images.has_color`)
            as skipped: their ab target is all zero and would teach the generator to paint gray.

    Items are ``{"rgb": uint8 (3, S, S), "index": int}`` or a skip marker.
    """

    def __init__(self, paths: Sequence[str | os.PathLike], image_size: int = 256, skip_gray: bool = True):
        if image_size < 1:
            raise ValueError(f"data.image_size must be positive, got {image_size}")
        super().__init__(paths)
        self.image_size = image_size
        self.skip_gray = skip_gray

    def __getitem__(self, index: int) -> dict:
        path, image = self._load(index)
        if isinstance(image, dict):
            return image
        size = (self.image_size, self.image_size)
        if image.size != size:
            image = image.resize(size, Image.Resampling.BICUBIC)
        rgb = _to_tensor(image)
        if self.skip_gray and not has_color(rgb):
            log.warning("Skipping grayscale photo %s: it has no color to learn from", path)
            return {"skip": SKIP_GRAY, "path": path}
        return {"rgb": rgb, "index": index}


def _count(items: Sequence[dict], kind: str) -> torch.Tensor:
    return torch.tensor(sum(item.get("skip") == kind for item in items), dtype=torch.long)


def collate_photos(items: Sequence[dict], image_size: int | None = None) -> dict[str, torch.Tensor]:
    """Stack :class:`PhotoDataset` items, dropping and counting skip markers.

    Args:
        items: dataset items and skip markers.
        image_size: S, used only for the shape of an all-skipped batch (else 0).

    Returns:
        ``{"rgb": uint8 (B, 3, S, S), "index": long (B,), "skipped_unreadable": long (),
        "skipped_gray": long ()}``. B is 0 when every item was skipped: consumers skip such
        batches, but still add up the counts (scalar tensors, so a DDP sum is correct).
    """
    good = [item for item in items if "skip" not in item]
    if good:
        rgb = torch.stack([item["rgb"] for item in good])
    else:
        side = image_size or 0
        rgb = torch.empty((0, 3, side, side), dtype=torch.uint8)
    return {
        "rgb": rgb,
        "index": torch.tensor([item["index"] for item in good], dtype=torch.long),
        "skipped_unreadable": _count(items, SKIP_UNREADABLE),
        "skipped_gray": _count(items, SKIP_GRAY),
    }


class PredictPhotoDataset(_PhotoFiles):
    """Photos at their own resolution and bit depth (EXIF orientation applied), for full-resolution colorization.

    Grayscale photos are kept: coloring them is the point of prediction. Decoded by
    :func:`~colorize.data.scans.load_scan`: gray files as one channel, 16-bit ones at 16 bits.
    Items are ``{"image": uint8 or uint16 (1 or 3, H, W), "path": str, "dpi": (x, y) or None,
    "icc_profile": bytes or None}`` or a skip marker for unreadable files.
    """

    def __getitem__(self, index: int) -> dict:
        path = self.paths[index]
        try:
            scan = load_scan(path)
        except UnreadableImageError as err:
            log.warning("Skipping unreadable image %s: %s", path, err.reason)
            return {"skip": SKIP_UNREADABLE, "path": path}
        return {"image": scan.pixels, "path": path, "dpi": scan.dpi, "icc_profile": scan.icc_profile}


def collate_predict(items: Sequence[dict]) -> dict:
    """Batch :class:`PredictPhotoDataset` items: ``{"image": [(1 or 3, H, W), ...], "path": [str, ...], ...}``.

    A list, not a stacked tensor: photos of a folder differ in size.
    :func:`colorize.inference.full_resolution.colorize_images` groups them by working size itself. Unreadable
    files are dropped, so the lists may be shorter than ``items``, or empty. ``dpi`` and
    ``icc_profile`` are lists beside them (None where an item has none).
    """
    good = [item for item in items if "skip" not in item]
    batch = {"image": [item["image"] for item in good], "path": [item["path"] for item in good]}
    for key in ("dpi", "icc_profile"):
        batch[key] = [item.get(key) for item in good]
    return batch
