"""``colorize serve`` in a real browser: Debian's headless Chromium driven by Selenium.

The server runs on a free 127.0.0.1 port with a checkpoint trained for one batch (``tiny_run``).
Chromium and chromedriver come from Debian's packages (``make install-browser``, which
``.ci/run`` calls); no browser is ever downloaded. Without them these tests are skipped
locally and fail under CI (``CI`` set), so a CI machine cannot pass them by skipping.

``COLORIZE_SCREENSHOT=path.png`` saves the page after the upload there (``make screenshot``
writes docs/serve.png this way); ``COLORIZE_SCREENSHOT_CKPT`` and ``COLORIZE_SCREENSHOT_PHOTO``
replace the tiny checkpoint and the synthetic photo (e.g. the demo's model and one of its
test photos).
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from kornia.color import rgb_to_lab
from PIL import Image

from colorize.atomic import atomic_open
from colorize.results import ResultsTable

pytestmark = pytest.mark.browser

WAIT_S = 120  # first colorization loads the model's weights; 2 shared CPU cores can be slow
L_TOLERANCE = 0.5  # see tests/test_inference.py


def _find(name: str, *fallbacks: str) -> str | None:
    return shutil.which(name) or next((p for p in fallbacks if Path(p).is_file()), None)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    browser_path = _find("chromium", "/usr/bin/chromium")
    driver_path = _find("chromedriver", "/usr/bin/chromedriver")
    if not (browser_path and driver_path):
        message = "needs Debian's chromium and chromium-driver: make install-browser"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser_path
    for flag in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
        "--disable-gpu",
        "--disable-dev-shm-usage",  # containers often have a 64 MB /dev/shm
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--window-size=1280,1000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    # A driver path given here means Selenium Manager (which would download a driver) never runs.
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(WAIT_S)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def served(tiny_run, serve_in_thread):
    """``(url, model)`` of a real ``colorize serve`` app (loopback only) on a free port; model: a run or a file."""
    from colorize.serve.server import build_app, parse_args

    model = Path(os.environ.get("COLORIZE_SCREENSHOT_CKPT") or tiny_run)
    app = build_app(parse_args(["--ckpt_path", str(model), "--port", "0"]))
    with serve_in_thread(app) as port:
        yield f"http://127.0.0.1:{port}/", model


def test_photo(tmp_path: Path) -> Path:
    """A colour photo of an odd size (no side a multiple of any stride), or the one given for the screenshot."""
    given = os.environ.get("COLORIZE_SCREENSHOT_PHOTO")
    if given:
        return Path(given)
    height, width = 181, 263
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    sky = np.stack([0.45 + 0.2 * y / height, 0.6 + 0.2 * y / height, np.full_like(y, 0.92)], -1)
    hill = y > height * (0.6 + 0.12 * np.sin(x / 40))
    sky[hill] = np.stack([0.25 + 0.1 * np.sin(x / 9), 0.55 + 0.1 * np.cos(y / 7), 0.2 + 0 * x], -1)[hill]
    sun = (y - 45) ** 2 + (x - 200) ** 2 < 22**2
    sky[sun] = (0.98, 0.85, 0.3)
    path = tmp_path / "hills at dusk.png"
    Image.fromarray((sky.clip(0, 1) * 255).round().astype(np.uint8)).save(path)
    return path


test_photo.__test__ = False  # a helper, not a test


def card_named(driver, name: str):
    from selenium.webdriver.common.by import By

    for card in driver.find_elements(By.CSS_SELECTOR, "#cards .card"):
        if card.find_element(By.CSS_SELECTOR, ".name").text == name:
            return card
    return None


def wait_for_card(driver, name: str):
    """The card of ``name`` once it is done or failed (bounded wait)."""
    from selenium.webdriver.support.ui import WebDriverWait

    def settled(d):
        card = card_named(d, name)
        return card if card is not None and card.get_attribute("data-state") in ("done", "error") else False

    return WebDriverWait(driver, WAIT_S, poll_frequency=0.2).until(settled, f"no result for {name}")


def open_page(driver, url: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    # The model's name shows once its weights are loaded and its test row read.
    WebDriverWait(driver, WAIT_S).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#model-info .name"))


def choose_file(driver, path: Path) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, "files").send_keys(str(path.resolve()))


def drop_file(driver, name: str, data: bytes) -> None:
    """Drag-and-drop as the page sees it: a drop event whose DataTransfer holds the file."""
    driver.execute_script(
        """
        const [name, encoded] = arguments;
        const bytes = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], name, {type: "application/octet-stream"}));
        const zone = document.getElementById("drop");
        zone.dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));
        """,
        name,
        base64.b64encode(data).decode(),
    )


def fetch_png(url: str) -> torch.Tensor:
    with urllib.request.urlopen(url, timeout=WAIT_S) as response:  # the test's own 127.0.0.1 server
        assert response.headers["Content-Type"] == "image/png"
        assert "attachment" in response.headers["Content-Disposition"]
        image = Image.open(io.BytesIO(response.read()))
        image.load()
    assert image.mode == "RGB"
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)


def lightness(rgb: torch.Tensor) -> torch.Tensor:
    return rgb_to_lab(rgb.float().div(255).unsqueeze(0))[0, 0]


def test_an_uploaded_photo_comes_back_colorized_at_full_size_with_its_lightness(browser, served, tmp_path):
    from selenium.webdriver.common.by import By

    url, model = served
    open_page(browser, url)
    info = browser.find_element(By.ID, "model-info").text
    results = (model if model.is_dir() else model.parent.parent) / "results.json"
    if results.is_file():  # the page shows the run's test row beside all-gray, as results.json has it
        rows = ResultsTable.load_json(results).rows
        model = next(row for name, row in rows.items() if name != "all-gray")
        assert "all-gray" in info
        assert f"{100 * model['pixel_acc@2%']:.1f} %" in info
        assert f"{100 * rows['all-gray']['pixel_acc@2%']:.1f} %" in info

    photo = test_photo(tmp_path)
    choose_file(browser, photo)
    card = wait_for_card(browser, photo.name)
    assert card.get_attribute("data-state") == "done", card.text
    original = np.asarray(Image.open(photo).convert("RGB"))
    height, width = original.shape[:2]
    assert f"{width} × {height}" in card.text
    # The page really shows the result (decoded by the browser), not just a link to it.
    shown = browser.execute_script("return arguments[0].querySelector('.after').naturalWidth", card)
    assert shown == min(width, round(width * 2048 / max(width, height)))

    link = card.find_element(By.CSS_SELECTOR, "a.download")
    out = fetch_png(link.get_attribute("href"))
    assert out.shape == (3, height, width)
    source = torch.from_numpy(original.copy()).permute(2, 0, 1)
    unclipped = ((out > 0) & (out < 255)).all(dim=0)
    assert unclipped.float().mean() > 0.5
    assert (lightness(out) - lightness(source)).abs()[unclipped].max() <= L_TOLERANCE

    # Everything the page loaded came from this server (or was made in the page itself).
    loaded = browser.execute_script("return performance.getEntriesByType('resource').map((e) => e.name)")
    assert loaded and all(name.startswith(url) or name.startswith("blob:") for name in loaded), loaded

    # The colour-strength knob, moved by keyboard to 0: the result becomes the gray input.
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    card.find_element(By.CSS_SELECTOR, ".strength input").send_keys(Keys.HOME)
    WebDriverWait(browser, WAIT_S).until(lambda d: "colour strength 0.00" in card_named(d, photo.name).text)
    assert "strength=0.00" in link.get_attribute("href")
    gray = fetch_png(link.get_attribute("href")).int()
    assert gray.shape == (3, height, width) and (gray.amax(0) - gray.amin(0)).max() <= 2
    assert (lightness(gray.to(torch.uint8)) - lightness(source)).abs().max() <= L_TOLERANCE
    card.find_element(By.CSS_SELECTOR, ".strength input").send_keys(Keys.END)  # 2.00, for the screenshot: 1.00
    for _ in range(20):
        card.find_element(By.CSS_SELECTOR, ".strength input").send_keys(Keys.ARROW_LEFT)
    WebDriverWait(browser, WAIT_S).until(lambda d: "colour strength 1.00" in card_named(d, photo.name).text)

    screenshot = Path(os.environ.get("COLORIZE_SCREENSHOT") or tmp_path / "serve.png")
    shot = Image.open(io.BytesIO(browser.get_screenshot_as_png())).convert("RGB")
    assert shot.size[0] >= 800
    with atomic_open(screenshot, "wb") as handle:  # docs/serve.png is replaced whole or not at all
        # 256 colours: a quarter of the size; the README's picture stays well under 300 KB.
        shot.quantize(256, method=Image.Quantize.FASTOCTREE).save(handle, format="PNG", optimize=True)


def test_a_broken_upload_gets_a_message_and_the_next_upload_still_works(browser, served, tmp_path):
    url, _ = served
    open_page(browser, url)
    good = Path(test_photo(tmp_path))
    truncated = good.read_bytes()[: good.stat().st_size // 2]
    drop_file(browser, "half copied.png", truncated)
    card = wait_for_card(browser, "half copied.png")
    assert card.get_attribute("data-state") == "error"
    assert "half copied.png" in card.text and "truncated" in card.text

    drop_file(browser, "holiday.txt", b"not a photo")
    assert "holiday.txt: not an image" in wait_for_card(browser, "holiday.txt").text

    choose_file(browser, good)
    assert wait_for_card(browser, good.name).get_attribute("data-state") == "done"


def test_the_model_menu_switches_models_and_survives_a_broken_one(browser, tiny_run, serve_in_thread, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from colorize.serve.server import build_app, parse_args

    runs = tmp_path / "runs"
    for name, mtime in (("first", 3_000), ("second", 2_000)):
        shutil.copytree(tiny_run, runs / name)
        os.utime(runs / name / "checkpoints" / "best.ckpt", (mtime, mtime))
    broken = runs / "broken" / "checkpoints" / "best.ckpt"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"half a checkpoint")
    os.utime(broken, (1_000, 1_000))

    with serve_in_thread(build_app(parse_args(["--runs", str(runs), "--port", "0"]))) as port:
        open_page(browser, f"http://127.0.0.1:{port}/")
        menu = Select(browser.find_element(By.ID, "model"))
        assert [o.text for o in menu.options] == ["first", "second", "broken"]
        assert menu.first_selected_option.text == "first"
        photo = test_photo(tmp_path)
        choose_file(browser, photo)
        assert "colorized by first" in wait_for_card(browser, photo.name).text

        menu.select_by_visible_text("broken")
        status = browser.find_element(By.ID, "status")
        WebDriverWait(browser, WAIT_S).until(lambda d: "cannot load model broken" in status.text)
        assert menu.first_selected_option.text == "first"  # back to the model that works
        assert card_named(browser, photo.name).get_attribute("data-state") == "done"

        menu.select_by_visible_text("second")
        WebDriverWait(browser, WAIT_S).until(lambda d: "colorized by second" in card_named(d, photo.name).text)
        assert browser.find_element(By.CSS_SELECTOR, "#model-info .name").text == "second"
        assert status.text == ""
