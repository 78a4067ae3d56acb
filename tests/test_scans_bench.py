"""benchmarks/scans.py's own pieces: the photos it makes and the time -v figures it reads."""

import numpy as np
from PIL import Image

from benchmarks.scans import SIZES, _seconds, make_scan


def test_made_scans_are_gray_grainy_and_of_the_stated_size(tmp_path):
    make_scan(tmp_path / "s.png", 60, 90)
    with Image.open(tmp_path / "s.png") as image:
        assert image.mode == "L" and image.size == (90, 60)
        pixels = np.asarray(image).astype(int)
    assert np.abs(np.diff(pixels, axis=1)).mean() > 2  # grain: neighbours differ, like a scan's
    assert all(abs(h * w / 1e6 - mp) / mp < 0.01 and abs(w / h - 1.5) < 0.01 for mp, (h, w) in SIZES.items())


def test_wall_clock_of_time_v_is_read_in_seconds():
    assert _seconds("0:12.80") == 12.8 and _seconds("1:02.5") == 62.5 and _seconds("1:00:01") == 3601
