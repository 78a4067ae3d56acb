"""Image files written atomically, so a crash mid-write never leaves a half file under a result's name.

Shared by everything that writes pictures: ``colorize predict``'s writer, the validation and
test figures, the web page's downloads.

:func:`save_image_png` writes a uint8 tensor that is already in memory (Pillow). The streaming
writers :func:`write_png_strips` and :func:`write_tiff_strips` take the picture as bands of
rows, 8 or 16 bits per channel, with its resolution (dpi) and ICC profile, so a 100-megapixel
scan is never whole in memory; they compress bands on :data:`COMPRESS_THREADS` threads while
the next bands are computed (zlib releases the GIL). Pillow cannot write 16-bit colour PNG,
so the PNG chunks are written here (signature, ``IHDR``, ``pHYs``, ``iCCP``, ``IDAT``, ``IEND``
of the PNG specification); the TIFF structure is left to ``tifffile``, fed with strips this
module compresses itself.
"""

from __future__ import annotations

import collections
import os
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import torch
from PIL import Image

from colorize.atomic import atomic_open

__all__ = ["COMPRESS_LEVEL", "COMPRESS_THREADS", "save_image_png", "write_png_strips", "write_tiff_strips"]

#: zlib level of the streaming writers. Measured on a 12 MP noisy photo (one core): level 1 compressed
#: in 1.3 s to 22.5 MB, level 6 (Pillow's default) in 3.7 s to 21.9 MB, Pillow's own PNG writer took
#: 6.0 s for 19.5 MB: a scan's grain is nearly incompressible, so the slower levels buy little.
COMPRESS_LEVEL = 1

#: Threads compressing bands at once: the two cores of the machine the issue measured on.
COMPRESS_THREADS = 2

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_METRES_PER_INCH = 0.0254
T = TypeVar("T")


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


def _mapped_in_order(
    func: Callable[[T], bytes], items: Iterable[T], workers: int = COMPRESS_THREADS
) -> Iterator[bytes]:
    """``func(item)`` for each item, computed on ``workers`` threads, yielded in order.

    At most ``workers + 1`` results wait at once, so memory stays a few bands whatever the picture.
    """
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: collections.deque = collections.deque()
        for item in items:
            pending.append(pool.submit(func, item))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _check_band(band: np.ndarray, width: int, channels: int, bits: int) -> None:
    dtype = np.uint16 if bits == 16 else np.uint8
    if band.ndim != 3 or band.shape[1:] != (width, channels) or band.dtype != dtype:
        raise ValueError(
            f"a band must be (rows, {width}, {channels}) {np.dtype(dtype)}, got {band.dtype} {tuple(band.shape)}"
        )


def _check_picture(height: int, width: int, channels: int, bits: int) -> None:
    if height < 1 or width < 1:
        raise ValueError(f"a picture needs at least one pixel, got {height} x {width}")
    if channels not in (1, 3) or bits not in (8, 16):
        raise ValueError(f"channels must be 1 or 3 and bits 8 or 16, got {channels} and {bits}")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _deflate_piece(item: tuple[bytes, bool]) -> bytes:
    # A raw deflate piece; the pieces of one stream joined are one valid stream (pigz's method): each
    # ends byte-aligned (sync flush) and only the last one is final.
    data, last = item
    compressor = zlib.compressobj(COMPRESS_LEVEL, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)


def write_png_strips(
    path: str | os.PathLike,
    bands: Iterable[np.ndarray],
    *,
    height: int,
    width: int,
    channels: int = 3,
    bits: int = 8,
    dpi: tuple[float, float] | None = None,
    icc_profile: bytes | None = None,
) -> None:
    """Write a PNG band by band, atomically: 8 or 16 bits per channel, RGB or gray, dpi and ICC profile kept.

    Args:
        bands: ``(h, width, channels)`` arrays, uint8 for 8 bits or uint16 for 16, top to bottom,
            their heights adding up to ``height`` (any split).
        dpi: ``(x, y)`` dots per inch, stored as ``pHYs`` (pixels per metre); None: no ``pHYs``.
        icc_profile: the bytes of an ICC profile to store as ``iCCP``; None: none.

    Every row uses PNG's "Up" filter (the difference to the row above): vectorized over a whole
    band, where the adaptive filters Pillow tries row by row would cost more than compressing.

    Raises:
        ValueError: on bands that are not of the stated size and type, or that do not add up to
            ``height`` (nothing is left under ``path`` then).
    """
    _check_picture(height, width, channels, bits)
    colour_type = 2 if channels == 3 else 0
    header = struct.pack(">IIBBBBB", width, height, bits, colour_type, 0, 0, 0)
    adler = [zlib.adler32(b"")]
    rows_seen = [0]

    def filtered() -> Iterator[tuple[bytes, bool]]:
        previous = np.zeros(width * channels * bits // 8, dtype=np.uint8)
        pending = None
        for band in bands:
            _check_band(band, width, channels, bits)
            rows_seen[0] += band.shape[0]
            if rows_seen[0] > height:
                raise ValueError(f"the bands hold more than the {height} rows stated")
            raw = band.astype(">u2") if bits == 16 else band
            raw = np.ascontiguousarray(raw).view(np.uint8).reshape(band.shape[0], -1)
            out = np.empty((raw.shape[0], raw.shape[1] + 1), dtype=np.uint8)
            out[:, 0] = 2  # Up
            np.subtract(raw[:1], previous[None], out=out[:1, 1:])
            np.subtract(raw[1:], raw[:-1], out=out[1:, 1:])
            previous = raw[-1].copy()
            data = out.tobytes()
            adler[0] = zlib.adler32(data, adler[0])
            if pending is not None:
                yield pending, False
            pending = data
        if rows_seen[0] != height:
            raise ValueError(f"the bands hold {rows_seen[0]} rows, not the {height} stated")
        yield pending, True

    with atomic_open(path, "wb") as f:
        f.write(_PNG_SIGNATURE + _png_chunk(b"IHDR", header))
        if dpi is not None:
            x, y = (max(1, round(float(d) / _METRES_PER_INCH)) for d in dpi)
            f.write(_png_chunk(b"pHYs", struct.pack(">IIB", x, y, 1)))
        if icc_profile:
            f.write(_png_chunk(b"iCCP", b"ICC Profile\0\0" + zlib.compress(icc_profile)))
        first = True
        for piece in _mapped_in_order(_deflate_piece, filtered()):
            # 0x78 0x9c: the zlib header of a deflate stream with a 32 KB window.
            f.write(_png_chunk(b"IDAT", (b"\x78\x9c" if first else b"") + piece))
            first = False
        f.write(_png_chunk(b"IDAT", struct.pack(">I", adler[0] & 0xFFFFFFFF)))
        f.write(_png_chunk(b"IEND", b""))


def _tiff_strip(band: np.ndarray) -> bytes:
    # Horizontal differencing (TIFF predictor 2), per sample, wrapping like the reader's sums.
    diff = band.copy()
    np.subtract(band[:, 1:], band[:, :-1], out=diff[:, 1:])
    return zlib.compress(diff.astype(diff.dtype.newbyteorder("<"), copy=False).tobytes(), COMPRESS_LEVEL)


def write_tiff_strips(
    path: str | os.PathLike,
    bands: Iterable[np.ndarray],
    *,
    height: int,
    width: int,
    rows: int,
    channels: int = 3,
    bits: int = 8,
    dpi: tuple[float, float] | None = None,
    icc_profile: bytes | None = None,
) -> None:
    """Write a TIFF strip by strip, atomically: Deflate with the horizontal predictor, dpi and ICC profile kept.

    Args:
        bands: ``(rows, width, channels)`` arrays (the last one may be shorter), uint8 for 8 bits
            or uint16 for 16, top to bottom; each becomes one TIFF strip.
        rows: rows per strip, the ``RowsPerStrip`` tag.
        dpi, icc_profile: as :func:`write_png_strips` (``XResolution``/``YResolution`` in
            inches, ``InterColorProfile``).

    Raises:
        ValueError: on bands that are not of the stated size and type (nothing is left under ``path``).
    """
    import tifffile  # only the TIFF output needs it

    _check_picture(height, width, channels, bits)
    strips = -(-height // rows)

    def checked() -> Iterator[np.ndarray]:
        seen = 0
        for index, band in enumerate(bands):
            _check_band(band, width, channels, bits)
            expected = rows if index < strips - 1 else height - rows * (strips - 1)
            if band.shape[0] != expected:
                raise ValueError(f"strip {index} has {band.shape[0]} rows, expected {expected}")
            seen += 1
            yield band
        if seen != strips:
            raise ValueError(f"got {seen} strips, expected {strips} of {rows} rows")

    options = {}
    if dpi is not None:
        options.update(resolution=tuple(float(d) for d in dpi), resolutionunit="INCH")
    with atomic_open(path, "wb") as f, tifffile.TiffWriter(f, byteorder="<") as tiff:
        tiff.write(
            _mapped_in_order(_tiff_strip, checked()),
            shape=(height, width, channels) if channels == 3 else (height, width),
            dtype=np.uint16 if bits == 16 else np.uint8,
            photometric="rgb" if channels == 3 else "minisblack",
            compression="zlib",
            predictor="horizontal",
            rowsperstrip=rows,
            iccprofile=icc_profile or None,
            metadata=None,
            **options,
        )
