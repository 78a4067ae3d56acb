"""Streaming PNG and TIFF writers: pixels, bit depth, dpi and ICC profile survive; a failed write leaves nothing."""

import numpy as np
import pytest
import tifffile
from PIL import Image
from png_reader import read_png

from colorize.inference.image_files import write_png_strips, write_tiff_strips

PROFILE = b"not parsed by the writers, only carried" * 10


def picture(bits: int, height: int = 23, width: int = 37, channels: int = 3) -> np.ndarray:
    rng = np.random.default_rng(bits)
    return rng.integers(0, 2**bits, (height, width, channels)).astype(np.uint16 if bits == 16 else np.uint8)


def bands(array: np.ndarray, rows: int):
    return (array[top : top + rows] for top in range(0, len(array), rows))


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("channels", [1, 3])
def test_png_round_trips_pixels_dpi_and_profile(tmp_path, bits, channels):
    array = picture(bits, channels=channels)
    path = tmp_path / "out.png"
    write_png_strips(
        path, bands(array, 5), height=23, width=37, channels=channels, bits=bits, dpi=(600, 300), icc_profile=PROFILE
    )
    pixels, chunks = read_png(path)  # every CRC, every filter, the zlib stream checked
    assert pixels.dtype == array.dtype and np.array_equal(pixels, array)
    assert chunks[b"pHYs"] == [(23622).to_bytes(4, "big") + (11811).to_bytes(4, "big") + b"\x01"]
    with Image.open(path) as image:  # a second, real decoder agrees
        image.load()
        assert image.info["dpi"] == pytest.approx((600, 300), abs=0.01)
        assert image.info["icc_profile"] == PROFILE
        if bits == 8:
            assert np.array_equal(np.asarray(image).reshape(array.shape), array)
        elif channels == 3:  # Pillow reads 16-bit colour PNG at 8 bits: the high bytes
            assert np.array_equal(np.asarray(image), (array >> 8).astype(np.uint8))
        else:
            assert np.array_equal(np.asarray(image), array[..., 0])


@pytest.mark.parametrize("bits", [8, 16])
def test_tiff_round_trips_pixels_dpi_and_profile(tmp_path, bits):
    array = picture(bits)
    path = tmp_path / "out.tiff"
    write_tiff_strips(
        path, bands(array, 5), height=23, width=37, rows=5, bits=bits, dpi=(1200, 1200), icc_profile=PROFILE
    )
    with tifffile.TiffFile(path) as tiff:
        page = tiff.pages[0]
        assert np.array_equal(page.asarray(), array)
        assert page.rowsperstrip == 5 and len(page.dataoffsets) == 5  # strips, as written
        assert page.tags["XResolution"].value == (1200, 1) and page.tags["ResolutionUnit"].value == 2
        assert page.tags["InterColorProfile"].value == PROFILE
    with Image.open(path) as image:
        assert image.info["dpi"] == (1200, 1200)
        if bits == 8:
            assert np.array_equal(np.asarray(image), array)


@pytest.mark.parametrize("writer", [write_png_strips, write_tiff_strips])
def test_bands_that_do_not_add_up_leave_the_old_file_alone(tmp_path, writer):
    path = tmp_path / "out"
    path.write_bytes(b"an earlier result")
    short = bands(picture(8)[:20], 5)
    with pytest.raises(ValueError, match="rows|strips"):
        writer(path, short, height=23, width=37, **({"rows": 5} if writer is write_tiff_strips else {}))
    with pytest.raises(ValueError, match="band must be"):
        writer(
            path, [picture(16)], height=23, width=37, bits=8, **({"rows": 23} if writer is write_tiff_strips else {})
        )
    assert path.read_bytes() == b"an earlier result" and sorted(p.name for p in tmp_path.iterdir()) == ["out"]
