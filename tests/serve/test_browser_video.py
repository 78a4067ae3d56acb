"""A short video dropped on the ``colorize serve`` page in headless Chromium comes back colorized, frame for frame.

Uses the browser and server fixtures of test_browser.py (Debian's chromium + chromedriver: make install-browser).
"""

from __future__ import annotations

import io
import urllib.request

import av
import pytest
from test_browser import WAIT_S, browser, drop_file, open_page, served  # noqa: F401 (fixtures)
from video_clips import write_clip

pytestmark = pytest.mark.browser


def test_a_dropped_video_is_colorized_played_and_offered_with_its_frame_count(browser, served, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, _ = served
    open_page(browser, url)
    clip = tmp_path / "street.mp4"
    write_clip(clip, frames=15, height=48, width=64, tone=True)
    drop_file(browser, "street.mp4", clip.read_bytes())
    download = WebDriverWait(browser, WAIT_S, poll_frequency=0.2).until(
        lambda d: (link := d.find_element(By.ID, "video-download")).is_displayed() and link,
        "the colorized video was not offered",
    )
    assert "15 frames colorized" in browser.find_element(By.ID, "video-status").text
    assert browser.find_elements(By.CSS_SELECTOR, "#cards .card") == []  # not taken for a photo
    with urllib.request.urlopen(download.get_attribute("href"), timeout=WAIT_S) as response:  # the test's server
        assert "attachment" in response.headers["Content-Disposition"]
        data = response.read()
    with av.open(io.BytesIO(data)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 15
    # The page plays it: the browser decoded its header (H.264 in MP4) and knows its length.
    duration = WebDriverWait(browser, WAIT_S).until(
        lambda d: d.execute_script("const v = document.getElementById('video-player'); return v.duration || 0")
    )
    assert duration == pytest.approx(15 / 25, abs=0.1)
