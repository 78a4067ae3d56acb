"""load_scan: bit depth, dpi and ICC profile kept; gray as one channel; non-sRGB photos converted to sRGB."""

import logging
import struct

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from colorize.data.images import UnreadableImageError
from colorize.data.scans import load_scan, srgb_profile


def s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def gamma_rgb_profile(gamma: float) -> bytes:
    """A minimal ICC v2 display profile: Adobe RGB's D50 primaries with a pure power curve (not sRGB)."""
    text = b"Test RGB gamma"
    desc = b"desc" + bytes(4) + struct.pack(">I", len(text) + 1) + text + b"\0" + bytes(4 + 4 + 2 + 1 + 67)
    curve = b"curv" + bytes(4) + struct.pack(">IH", 1, round(gamma * 256)) + bytes(2)

    def xyz(x, y, z):
        return b"XYZ " + bytes(4) + s15(x) + s15(y) + s15(z)

    tags = [
        (b"desc", desc),
        (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", xyz(0.6097, 0.3111, 0.0195)),
        (b"gXYZ", xyz(0.2053, 0.6257, 0.0609)),
        (b"bXYZ", xyz(0.1492, 0.0632, 0.7446)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text" + bytes(4) + b"none\0" + bytes(3)),
    ]
    offset, table, body = 128 + 4 + 12 * len(tags), b"", b""
    for signature, data in tags:
        data += bytes(-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = struct.pack(">I", size) + b"lcms" + bytes.fromhex("02100000") + b"mntrRGB XYZ " + bytes(12) + b"acsp"
    header += bytes(64 - len(header)) + bytes(4) + s15(0.9642) + s15(1.0) + s15(0.8249)
    header += bytes(128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + body


def srgb_encode(linear: float) -> float:
    return 1.055 * linear ** (1 / 2.4) - 0.055 if linear > 0.0031308 else 12.92 * linear


def test_a_non_srgb_photo_is_converted_to_srgb_and_tagged_srgb(tmp_path):
    levels = np.array([40, 128, 220], dtype=np.uint8)
    rgb = np.repeat(levels[None, :, None], 3, axis=2).repeat(4, axis=0)  # three neutral grays
    Image.fromarray(rgb).save(tmp_path / "gamma18.png", icc_profile=gamma_rgb_profile(1.8))
    Image.fromarray(rgb).save(tmp_path / "plain.png")
    scan = load_scan(tmp_path / "gamma18.png")
    # The same light, re-encoded with sRGB's curve (independent of LittleCMS): 40 -> 53, 128 -> 147.
    expected = [255 * srgb_encode((v / 255) ** 1.8) for v in levels]
    assert scan.pixels.shape == (3, 4, 3)
    assert np.abs(scan.pixels[:, 0].numpy().T - np.array(expected)[:, None]).max() <= 2
    assert scan.icc_profile == srgb_profile()
    untagged = load_scan(tmp_path / "plain.png")
    assert untagged.icc_profile is None and torch.equal(untagged.pixels, torch.from_numpy(rgb).permute(2, 0, 1))


def test_an_srgb_profile_is_carried_over_as_it_is(tmp_path):
    Image.new("L", (5, 4), 90).save(tmp_path / "srgb.jpg", icc_profile=srgb_profile(), dpi=(300, 300))
    scan = load_scan(tmp_path / "srgb.jpg")
    assert scan.icc_profile == srgb_profile() and scan.dpi == (300, 300) and scan.pixels.shape == (1, 4, 5)


def test_sixteen_bit_colour_tiff_keeps_sixteen_bits(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 65536, (6, 7, 3)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "c.tif", rgb, photometric="rgb", resolution=(800, 800), resolutionunit="INCH")
    scan = load_scan(tmp_path / "c.tif")
    assert scan.bits == 16 and np.array_equal(scan.pixels.permute(1, 2, 0).numpy(), rgb) and scan.dpi == (800, 800)


def test_a_sixteen_bit_photo_with_a_non_srgb_profile_is_read_as_srgb_with_a_warning(tmp_path, caplog):
    gray = np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000
    tifffile.imwrite(tmp_path / "g.tif", gray, iccprofile=gamma_rgb_profile(1.8))
    with caplog.at_level(logging.WARNING, logger="colorize.data.scans"):
        scan = load_scan(tmp_path / "g.tif")
    assert scan.bits == 16 and np.array_equal(scan.pixels[0].numpy(), gray) and scan.icc_profile == srgb_profile()
    assert "g.tif" in caplog.text and "read as sRGB" in caplog.text


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_unreadable_files_raise_one_clear_error(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "junk.tif").write_bytes(b"II*\0 not really")
    for name in ("empty.png", "junk.tif", "missing.png"):
        with pytest.raises(UnreadableImageError, match=name):
            load_scan(tmp_path / name)
