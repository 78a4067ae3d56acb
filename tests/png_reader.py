"""A PNG decoder written from the specification, for tests: Pillow cannot read 16-bit colour PNG.

Independent of :mod:`colorize.inference.image_files` on purpose: it checks every chunk's CRC and
undoes all five row filters (None, Sub, Up, Average, Paeth), so a writer that gets a filter,
the zlib stream or a chunk wrong fails here. Pure Python per pixel for Paeth: small images only.
"""

import struct
import zlib

import numpy as np


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def read_png(path) -> tuple[np.ndarray, dict[bytes, list[bytes]]]:
    """``(pixels (H, W, C) uint8 or uint16, {chunk type: [data, ...]})`` of a non-interlaced gray or RGB PNG."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    chunks: dict[bytes, list[bytes]] = {}
    position = 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        chunks.setdefault(kind, []).append(body)
        position += 12 + length
    assert list(chunks)[0] == b"IHDR" and list(chunks)[-1] == b"IEND"
    width, height, bits, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"][0])
    assert interlace == 0 and colour in (0, 2) and bits in (8, 16)
    channels = 3 if colour == 2 else 1
    bpp = channels * bits // 8
    stride = width * bpp
    raw = zlib.decompress(b"".join(chunks[b"IDAT"]))
    assert len(raw) == height * (stride + 1)
    out = np.zeros((height, stride), dtype=np.int64)
    previous = np.zeros(stride, dtype=np.int64)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        row = np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).astype(np.int64)
        if kind == 0:
            current = row
        elif kind == 2:
            current = (row + previous) % 256
        else:
            current = np.zeros(stride, dtype=np.int64)
            for x in range(stride):
                a = current[x - bpp] if x >= bpp else 0
                b = previous[x]
                c = previous[x - bpp] if x >= bpp else 0
                predictor = {1: a, 3: (a + b) // 2, 4: _paeth(a, b, c)}[kind]
                current[x] = (row[x] + predictor) % 256
        out[y] = current
        previous = current
    pixels = out.astype(np.uint8)
    if bits == 16:
        pixels = pixels.reshape(height, -1, 2)
        pixels = (pixels[..., 0].astype(np.uint16) << 8) | pixels[..., 1]
    return pixels.reshape(height, width, channels), chunks
