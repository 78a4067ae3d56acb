"""Finding and decoding photos: every file on disk becomes an 8-bit RGB ``PIL.Image`` or a clear error.

Photo collections are messy (CMYK JPEGs, palette PNGs, 16-bit TIFFs, phone pictures that
store their rotation in EXIF, half-copied files). Decoding is the one place that knows about
that, so the dataset and the predictor can treat every photo as plain RGB.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from colorize.data.colorfulness import colorfulness

T = TypeVar("T")

log = logging.getLogger(__name__)

IMAGE_SUFFIXES: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
"""Lower-case suffixes of the files :func:`find_images` picks up (matched case-insensitively)."""

PHOTO_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "TIFF", "BMP", "WEBP")
"""The Pillow formats colorize decodes (those of :data:`IMAGE_SUFFIXES`), passed to every ``Image.open``.

Pillow detects a format from the content, not the name, and knows dozens: an EPS renamed
``.jpg`` would be handed to Ghostscript (no timeout, a history of sandbox escapes). Anything
else is refused like a corrupt file. (A phone's multi-picture JPEG opens as JPEG.)
"""

SAMPLE_FORMATS: tuple[str, ...] = (*PHOTO_FORMATS, "GIF")
"""What the sample builder (:mod:`colorize.data.sample`) decodes: some of its packages ship GIF photos."""

GRAY_LEVEL_TOLERANCE = 2
"""Max |R-G|, |G-B|, |R-B| (in 0-255 levels) of a pixel that still counts as gray: JPEG chroma noise."""

MIN_COLORFULNESS = 1.0
"""Hasler-Süsstrunk score below which a photo has no usable color (a real photo scores > 5)."""

_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})


class UnreadableImageError(OSError):
    """A file that cannot be decoded as an image: corrupt, truncated, empty, missing or not an image."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        # One argument only: OSError(a, b) would render as "[Errno a] b".
        super().__init__(f"cannot read image {self.path}: {reason}")

    def __reduce__(self):
        # Keeps the exception picklable across DataLoader worker processes.
        return (type(self), (self.path, self.reason))


def _is_hidden(relative: Path) -> bool:
    # macOS writes "._photo.jpg" AppleDouble files next to photos on foreign disks: not images.
    return any(part.startswith(".") for part in relative.parts)


def find_images(root: str | os.PathLike) -> list[Path]:
    """All image files under ``root`` (recursive), sorted by relative path so every machine sees one order.

    Hidden files and folders (names starting with ".") are ignored.

    Raises:
        FileNotFoundError: ``root`` does not exist.
        NotADirectoryError: ``root`` is a file.
        ValueError: ``root`` holds no file with a suffix in :data:`IMAGE_SUFFIXES`.
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"image folder not found: {root}")
    if not root.is_dir():
        raise NotADirectoryError(f"expected a folder of images, got a file: {root}")
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES:
                found.append(Path(dirpath, name))
    if not found:
        suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
        raise ValueError(f"no images ({suffixes}) found under {root}")
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def _composite_over_white(image: Image.Image) -> Image.Image:
    # Transparent pixels often hold garbage colors; on white they look as a viewer shows them.
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _high_bit_depth_to_rgb(image: Image.Image) -> Image.Image:
    # PIL's convert("L") clips 16-bit values at 255 (a mostly white image); rescale instead.
    values = np.asarray(image, dtype=np.float64)
    if image.mode == "F":
        # Float images are stored either in [0, 1] or in [0, 255]; anything else is clipped.
        scale = 255.0 if values.size and np.nanmax(values) <= 1.0 else 1.0
    else:
        scale = 255.0 / 65535.0
    gray = np.clip(np.nan_to_num(values * scale), 0, 255).round().astype(np.uint8)
    return Image.fromarray(gray, mode="L").convert("RGB")


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode == "P" and "transparency" in image.info:
        return _composite_over_white(image)
    if image.mode in _ALPHA_MODES:
        return _composite_over_white(image)
    if image.mode in _SIXTEEN_BIT_MODES or image.mode == "F":
        return _high_bit_depth_to_rgb(image)
    # L, 1, P, CMYK, YCbCr, LAB, HSV, RGBX: PIL's own conversions are right for these.
    return image.convert("RGB")


def load_rgb(path: str | os.PathLike) -> Image.Image:
    """Decode ``path`` fully into an 8-bit ``RGB`` image, upright (EXIF orientation applied).

    CMYK and palette images are converted, transparent ones (RGBA, LA, P with transparency)
    composited over white, 16-bit grayscale scaled to 8 bits (65535 -> 255), grayscale
    replicated to three channels.

    Raises:
        UnreadableImageError: the file is missing, empty, truncated, corrupt or not an image.
    """
    return decode_photo(path, _decode_rgb)


def _decode_rgb(path: Path) -> Image.Image:
    with Image.open(path, formats=PHOTO_FORMATS) as image:
        # open() only reads the header; load() decodes, and raises on truncated data.
        image.load()
        image = ImageOps.exif_transpose(image)
        return _to_rgb(image)


def decode_photo(path: str | os.PathLike, decode: Callable[[Path], T]) -> T:
    """``decode(path)``, with every way a photo file can be unusable turned into one :class:`UnreadableImageError`.

    Shared by :func:`load_rgb` and :func:`colorize.data.scans.load_scan`, so a missing, empty,
    truncated, corrupt or foreign file is refused with the same message whichever reader meets it.
    """
    path = Path(path)
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # Someone flipped PIL's global switch: truncated files would decode as half-gray photos.
        log.warning("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is True: truncated images will not be detected")
    try:
        size = path.stat().st_size
    except OSError as err:
        raise UnreadableImageError(path, err.strerror or str(err)) from err
    if size == 0:
        raise UnreadableImageError(path, "empty file (0 bytes)")
    try:
        return decode(path)
    # PIL's decoders raise a zoo of exception types on bad input (OSError, SyntaxError,
    # struct.error, IndexError, DecompressionBombError, ...): all mean "not a usable image".
    except UnidentifiedImageError as err:
        raise UnreadableImageError(path, not_a_photo_format()) from err
    except Exception as err:
        reason = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        raise UnreadableImageError(path, reason) from err


def not_a_photo_format() -> str:
    """Why a file in another format (or none) is refused: the formats that are read."""
    return f"not a photo in a format colorize reads ({', '.join(PHOTO_FORMATS)})"


def has_color(rgb: torch.Tensor) -> bool:
    """Whether a photo carries any color, i.e. is usable as a colorization target.

    Args:
        rgb: ``(3, H, W)`` sRGB, uint8 in [0, 255] or float in [0, 1].

    Returns:
        False when every pixel is gray within ±:data:`GRAY_LEVEL_TOLERANCE` levels or the
        colorfulness is below :data:`MIN_COLORFULNESS`; True otherwise (sepia counts as color).
    """
    if rgb.ndim != 3 or rgb.shape[0] != 3:
        raise ValueError(f"rgb must have shape (3, H, W), got {tuple(rgb.shape)}")
    levels = rgb.float() if rgb.dtype == torch.uint8 else rgb.float() * 255.0
    spread = levels.amax(dim=0) - levels.amin(dim=0)
    if spread.numel() == 0 or float(spread.max()) <= GRAY_LEVEL_TOLERANCE:
        return False
    return float(colorfulness(rgb)) >= MIN_COLORFULNESS
