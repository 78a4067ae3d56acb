"""Photos for full-resolution colorization, decoded at their own bit depth with their dpi and ICC profile.

:func:`colorize.data.images.load_rgb` makes every file an 8-bit RGB image, which is right for
training (the networks see 8-bit Lab) but loses what a scan of an old print carries: 16 bits
per channel, its resolution, its colour profile. :func:`load_scan` keeps them, and keeps a
gray photo as one channel (a third of the memory of RGB, which matters at 100 megapixels):

- 8-bit files decode as :func:`~colorize.data.images.load_rgb` decodes them (alpha composited
  over white, CMYK and palettes converted), gray ones as one channel;
- 16-bit grayscale PNG and TIFF decode with Pillow (mode ``I;16``) at 16 bits;
- 16-bit colour TIFF decodes with ``tifffile`` at 16 bits (Pillow reduces it to 8);
- 16-bit colour PNG decodes at 8 bits: neither Pillow nor ``tifffile`` reads it at 16, and a
  decoder of our own would have to undo PNG's per-pixel Paeth filter in Python. Its L* then
  has 8-bit precision (about 0.4 L* per level); saving the scan as TIFF keeps the 16 bits.

ICC profiles: the colour math assumes sRGB. An 8-bit photo whose embedded profile is not sRGB
is converted to sRGB on read with Pillow's ImageCms (LittleCMS), and the output is tagged
with sRGB; an sRGB profile is carried over as it is. A 16-bit photo with a non-sRGB profile
is read as if it were sRGB, with a warning, and tagged sRGB: Pillow's ImageCms transforms
8-bit images only, and a conversion through 8 bits would throw away the bits kept here.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from colorize.data.images import PHOTO_FORMATS, _to_rgb, decode_photo

__all__ = ["Scan", "load_scan", "srgb_profile"]

log = logging.getLogger(__name__)

_SIXTEEN_BIT_GRAY = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
# PIL's Image.transpose methods for EXIF/TIFF orientations 2-8, as numpy operations on (H, W, C).
_ORIENT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
    8: lambda a: np.rot90(a, 1),
}


@dataclass(frozen=True)
class Scan:
    """A decoded photo at its own bit depth.

    Attributes:
        pixels: ``(1, H, W)`` gray or ``(3, H, W)`` sRGB, uint8 or uint16, upright.
        dpi: ``(x, y)`` dots per inch as the file states them, or None.
        icc_profile: the profile the colorized output is tagged with: the file's own if it is
            sRGB, sRGB's if the photo was converted (or read as sRGB), None if the file had none.
    """

    pixels: torch.Tensor
    dpi: tuple[float, float] | None = None
    icc_profile: bytes | None = None

    @property
    def bits(self) -> int:
        return 16 if self.pixels.dtype == torch.uint16 else 8


@functools.lru_cache(maxsize=1)
def srgb_profile() -> bytes:
    """The bytes of LittleCMS's built-in sRGB profile (what a converted output is tagged with)."""
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _is_srgb(profile: bytes) -> bool:
    from PIL import ImageCms

    try:
        description = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(_bytes_io(profile)))
    except (ImageCms.PyCMSError, OSError, TypeError):
        return False
    return "srgb" in description.casefold()


def _bytes_io(data: bytes):
    import io

    return io.BytesIO(data)


def _to_srgb(image: Image.Image, profile: bytes, path: Path) -> Image.Image:
    """``image`` (8-bit) converted from its embedded ``profile`` to sRGB."""
    from PIL import ImageCms

    mode = "RGB" if image.mode not in ("L", "RGB") else image.mode
    if image.mode != mode:
        image = image.convert(mode)
    try:
        source = ImageCms.ImageCmsProfile(_bytes_io(profile))
        target = ImageCms.createProfile("sRGB")
        return ImageCms.profileToProfile(image, source, target, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError) as err:
        log.warning("%s: its ICC profile could not be applied (%s); reading it as sRGB", path, err)
        return image


def _sixteen_bit_tiff_colour(image: Image.Image) -> bool:
    if image.format != "TIFF":
        return False
    bits = image.tag_v2.get(258)
    samples = image.tag_v2.get(277, 1)
    bits = bits if isinstance(bits, tuple) else (bits,)
    return samples >= 3 and bits[0] == 16


def _read_tiff_16(path: Path, image: Image.Image) -> np.ndarray:
    """``(H, W, 3)`` uint16 of a 16-bit colour TIFF, upright, alpha composited over white."""
    import tifffile

    array = np.asarray(tifffile.imread(path, key=0))
    if array.ndim != 3 or array.shape[-1] not in (3, 4) or array.dtype != np.uint16:
        raise ValueError(f"expected 16-bit RGB or RGBA pixels, tifffile read {array.dtype} {array.shape}")
    if array.shape[-1] == 4:
        alpha = array[..., 3:].astype(np.float32) / 65535.0
        array = (array[..., :3] * alpha + 65535.0 * (1 - alpha)).round().astype(np.uint16)
    orientation = image.tag_v2.get(274, 1)
    return np.ascontiguousarray(_ORIENT[orientation](array)) if orientation in _ORIENT else array


def _dpi(image: Image.Image) -> tuple[float, float] | None:
    dpi = image.info.get("dpi")
    if dpi is None or len(dpi) != 2:
        return None
    x, y = (float(d) for d in dpi)
    return (x, y) if x > 0 and y > 0 else None


def _decode(path: Path) -> Scan:
    with Image.open(path, formats=PHOTO_FORMATS) as opened:
        opened.load()
        dpi = _dpi(opened)
        profile = opened.info.get("icc_profile") or None
        srgb = profile is None or _is_srgb(profile)
        if _sixteen_bit_tiff_colour(opened):
            array = _read_tiff_16(path, opened)
        else:
            image = ImageOps.exif_transpose(opened)
            if image.mode in _SIXTEEN_BIT_GRAY or (image.mode == "I" and image.format == "PNG"):
                array = np.clip(np.asarray(image), 0, 65535).astype(np.uint16)
            else:
                if not srgb:
                    image = _to_srgb(image, profile, path)
                    profile, srgb = srgb_profile(), True
                array = np.array(image if image.mode == "L" else _to_rgb(image), dtype=np.uint8)
    if not srgb:
        log.warning(
            "%s: a 16-bit photo with a non-sRGB ICC profile is read as sRGB (Pillow converts 8-bit images only); "
            "its output is tagged sRGB",
            path,
        )
        profile = srgb_profile()
    pixels = torch.from_numpy(array)
    pixels = pixels.unsqueeze(0) if pixels.ndim == 2 else pixels.permute(2, 0, 1)
    return Scan(pixels=pixels, dpi=dpi, icc_profile=profile)


def load_scan(path: str | os.PathLike) -> Scan:
    """Decode ``path`` at its own bit depth (see the module docstring), upright, with its dpi and profile.

    Raises:
        UnreadableImageError: the file is missing, empty, truncated, corrupt or not an image.
    """
    return decode_photo(path, _decode)
