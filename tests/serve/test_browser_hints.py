"""The hint tool of the ``colorize serve`` page in headless Chromium: place, recolour, move, remove, download, load.

The server offers a model whose a*b* follow the hints (``hint_following_checkpoint``: gray by itself,
a hint's colour spread over the photo) and a hint-free one. Uses test_browser.py's browser fixture
(Debian's chromium + chromedriver: make install-browser; skipped without them unless CI is set).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from kornia.color import rgb_to_lab
from PIL import Image
from test_browser import (
    L_TOLERANCE,
    WAIT_S,
    browser,  # noqa: F401 (the fixture)
    card_named,
    choose_file,
    fetch_png,
    open_page,
)
from tiny_runs import describing_checkpoint, hint_following_checkpoint

from colorize.inference.hints import hex_to_ab, read_hints_file
from colorize.models.unet import UNet

pytestmark = pytest.mark.browser

GREEN = "#3a9a40"
HEIGHT, WIDTH = 181, 263
REGION = (slice(60, 140), slice(150, 240))  # rows, columns of the lighter square the hint is placed in
POINT = (195, 100)  # x, y inside it


@pytest.fixture(scope="module")
def hint_served(tmp_path_factory, serve_in_thread):
    """The page's URL; its menu: "hints" (follows hints, the default) and "plain" (trained without them)."""
    from colorize.serve.server import build_app, parse_args

    root = tmp_path_factory.mktemp("models")
    following = hint_following_checkpoint(root)
    torch.manual_seed(0)
    spec = {"class_path": "colorize.models.unet.UNet", "init_args": {"base_width": 4, "depth": 2}}
    plain = describing_checkpoint(root / "plain" / "checkpoints" / "last.ckpt", UNet(base_width=4, depth=2), spec)
    app = build_app(parse_args(["--ckpt_path", str(following), "--ckpt_path", str(plain), "--port", "0"]))
    with serve_in_thread(app) as port:
        yield f"http://127.0.0.1:{port}/"


def region_photo(tmp_path: Path) -> Path:
    """Gray of an odd size (no side a multiple of any stride) with a lighter square: room for colour at both."""
    pixels = np.full((HEIGHT, WIDTH, 3), 100, dtype=np.uint8)
    pixels[REGION] = 160
    path = tmp_path / "attic door.png"
    Image.fromarray(pixels).save(path)
    return path


def lab(rgb: torch.Tensor) -> torch.Tensor:
    return rgb_to_lab(rgb.float().div(255).unsqueeze(0))[0]


def page_hints(card) -> list[dict]:
    return card.parent.execute_script("return arguments[0].hints.list", card)


def settled_with(driver, name: str, text: str):
    """Wait until the card of ``name`` shows a finished result whose message holds ``text``; return the card."""
    from selenium.webdriver.support.ui import WebDriverWait

    def done(d):
        card = card_named(d, name)
        assert card.get_attribute("data-state") != "error", card.text
        return card if card.get_attribute("data-state") == "done" and text in card.text else False

    return WebDriverWait(driver, WAIT_S, poll_frequency=0.2).until(done, f"{name}: no result with {text!r}")


def colorized(card) -> torch.Tensor:
    from selenium.webdriver.common.by import By

    return fetch_png(card.find_element(By.CSS_SELECTOR, "a.download").get_attribute("href"))


def click_photo_at(driver, card, x: int, y: int) -> None:
    """A real mouse click on the picture at photo pixel (x, y), whatever its size on the screen."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    layer = card.find_element(By.CSS_SELECTOR, ".hint-layer")
    rect = driver.execute_script("return arguments[0].getBoundingClientRect().toJSON()", layer)
    dx = (x + 0.5) * rect["width"] / WIDTH - rect["width"] / 2
    dy = (y + 0.5) * rect["height"] / HEIGHT - rect["height"] / 2
    ActionChains(driver).move_to_element_with_offset(layer, round(dx), round(dy)).click().perform()


def marker_offset(driver, card) -> float:
    """How far (screen px) the first marker's centre lies from where its hint's pixel is shown."""
    return driver.execute_script(
        """
        const [card, width, height] = arguments;
        const layer = card.querySelector(".hint-layer").getBoundingClientRect();
        const marker = card.querySelector(".hint-marker").getBoundingClientRect();
        const hint = card.hints.list[0];
        const x = layer.left + (hint.x * layer.width) / width, y = layer.top + (hint.y * layer.height) / height;
        return Math.hypot(marker.left + marker.width / 2 - x, marker.top + marker.height / 2 - y);
        """,
        card,
        WIDTH,
        HEIGHT,
    )


def set_picker(driver, card, colour: str) -> None:
    """Choose ``colour`` in the colour picker as a person would: its value, then its input and change events."""
    driver.execute_script(
        """
        const picker = arguments[0].querySelector(".hint-colour input");
        picker.value = arguments[1];
        picker.dispatchEvent(new Event("input", {bubbles: true}));
        picker.dispatchEvent(new Event("change", {bubbles: true}));
        """,
        card,
        colour,
    )


def download_hints(driver, card, folder: Path) -> Path:
    """Click "Download hints" with downloads going to ``folder``; the file once it is complete."""
    from selenium.webdriver.common.by import By

    folder.mkdir(parents=True, exist_ok=True)  # Chromium makes it only when the download starts: a race
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(folder)})
    card.find_element(By.CSS_SELECTOR, ".hints-download").click()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done = [p for p in folder.iterdir() if p.suffix == ".json"]
        if done:
            return done[0]
        time.sleep(0.1)
    raise AssertionError(f"no hints file was downloaded to {folder}: {list(folder.iterdir())}")


def test_a_hint_colours_the_photo_moves_is_removed_and_round_trips_through_its_file(browser, hint_served, tmp_path):  # noqa: F811
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    started = time.monotonic()
    open_page(browser, hint_served)
    photo = region_photo(tmp_path)
    choose_file(browser, photo)
    card = settled_with(browser, photo.name, "colorized by hints")
    assert card.find_element(By.CSS_SELECTOR, ".hints-tool").is_displayed()
    assert not card.find_element(By.CSS_SELECTOR, ".no-hints").is_displayed()
    plain = colorized(card)
    source = torch.from_numpy(np.asarray(Image.open(photo).convert("RGB")).copy()).permute(2, 0, 1)
    assert plain.shape == source.shape and lab(plain)[1:].abs().max() < 2  # gray without hints

    # Place: tick the tool, click the region. The picker starts at the result's colour there.
    card.find_element(By.CSS_SELECTOR, ".hint-mode input").click()
    click_photo_at(browser, card, *POINT)
    (hint,) = page_hints(card)
    assert abs(hint["x"] - POINT[0]) <= 1 and abs(hint["y"] - POINT[1]) <= 1, hint
    picker = card.find_element(By.CSS_SELECTOR, ".hint-colour input")
    shown = torch.tensor([int(picker.get_attribute("value")[i : i + 2], 16) for i in (1, 3, 5)])
    assert (shown - plain[:, hint["y"], hint["x"]].int()).abs().max() <= 2
    assert marker_offset(browser, card) < 1.5

    # Recolour: the result re-requests by itself and its a*b* move to the hint's, L* staying the input's.
    set_picker(browser, card, GREEN)
    card = settled_with(browser, photo.name, "with 1 colour hint")
    hinted = colorized(card)
    target = torch.tensor(hex_to_ab(GREEN))
    region_ab = lab(hinted)[1:, REGION[0], REGION[1]].mean(dim=(1, 2))
    plain_ab = lab(plain)[1:, REGION[0], REGION[1]].mean(dim=(1, 2))
    assert (region_ab - target).norm() < 0.2 * (plain_ab - target).norm(), (region_ab, plain_ab, target)
    unclipped = ((hinted > 0) & (hinted < 255)).all(dim=0)
    assert unclipped.float().mean() > 0.5
    assert (lab(hinted)[0] - lab(source)[0]).abs()[unclipped].max() <= L_TOLERANCE

    # Markers follow the picture at any display scale.
    size = browser.get_window_size()
    browser.set_window_size(700, 800)
    try:
        assert marker_offset(browser, card) < 1.5
    finally:
        browser.set_window_size(size["width"], size["height"])

    # Move: drag the marker 40 px to the left on the screen; the hint moves with it.
    marker = card.find_element(By.CSS_SELECTOR, ".hint-marker")
    ActionChains(browser).click_and_hold(marker).move_by_offset(-20, 0).move_by_offset(-20, 0).release().perform()
    WebDriverWait(browser, WAIT_S).until(lambda d: page_hints(card)[0]["x"] < POINT[0] - 10)
    (moved,) = page_hints(card)
    assert abs(moved["y"] - hint["y"]) <= 1 and moved["color"] == GREEN
    assert marker_offset(browser, card) < 1.5
    WebDriverWait(browser, WAIT_S).until(lambda d: f"%22x%22%3A{moved['x']}%2C" in card.find_element(
        By.CSS_SELECTOR, "a.download").get_attribute("href"))  # fmt: skip
    card = settled_with(browser, photo.name, "with 1 colour hint")

    # Download the hints: the CLI's file, keyed by the photo's name, holding the same hint.
    saved = download_hints(browser, card, tmp_path / "downloads")
    assert saved.name == "attic door-hints.json"
    (read,) = read_hints_file(saved, {photo.name: photo})[photo.name]
    assert (read.x, read.y, read.size) == (moved["x"], moved["y"], moved["size"])
    assert (read.a, read.b) == pytest.approx(hex_to_ab(GREEN))

    # Remove with the list's ×: the hint-free result again.
    card.find_element(By.CSS_SELECTOR, ".hint-remove").click()
    assert page_hints(card) == []
    WebDriverWait(browser, WAIT_S).until(lambda d: "with 1 colour hint" not in card_named(d, photo.name).text)
    card = settled_with(browser, photo.name, "colour strength 1.00")
    assert "hints=" not in card.find_element(By.CSS_SELECTOR, "a.download").get_attribute("href")
    assert (colorized(card).int() - plain.int()).abs().max() <= 1

    # Load the downloaded file: the hint is back, and so is its result; then select it and press Delete.
    card.find_element(By.CSS_SELECTOR, ".hints-file").send_keys(str(saved))
    card = settled_with(browser, photo.name, "with 1 colour hint")
    assert "1 hint loaded from attic door-hints.json" in card.text
    assert [(h["x"], h["y"], h["color"]) for h in page_hints(card)] == [(moved["x"], moved["y"], GREEN)]
    assert (colorized(card).int() - hinted.int()).abs().max() <= 1  # one hint spreads over the whole photo
    card.find_element(By.CSS_SELECTOR, ".hint-pick").click()
    card.find_element(By.CSS_SELECTOR, ".hint-layer").send_keys(Keys.DELETE)
    assert page_hints(card) == []
    WebDriverWait(browser, WAIT_S).until(lambda d: "with 1 colour hint" not in card_named(d, photo.name).text)
    print(f"hint tool walk-through: {time.monotonic() - started:.1f} s")


def test_a_model_trained_without_hints_hides_the_tool_and_says_why(browser, hint_served, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    open_page(browser, hint_served)
    photo = region_photo(tmp_path)
    choose_file(browser, photo)
    card = settled_with(browser, photo.name, "colorized by hints")
    card.find_element(By.CSS_SELECTOR, ".hint-mode input").click()
    click_photo_at(browser, card, *POINT)
    set_picker(browser, card, GREEN)
    card = settled_with(browser, photo.name, "with 1 colour hint")

    Select(browser.find_element(By.ID, "model")).select_by_visible_text("plain")
    card = settled_with(browser, photo.name, "colorized by plain")
    note = card.find_element(By.CSS_SELECTOR, ".no-hints")
    assert note.is_displayed() and "configs/offline_hints.yaml trains one that takes them" in note.text
    assert not card.find_element(By.CSS_SELECTOR, ".hints-tool").is_displayed()
    assert not card.find_element(By.CSS_SELECTOR, ".hint-layer").is_displayed()
    assert "hints=" not in card.find_element(By.CSS_SELECTOR, "a.download").get_attribute("href")
    assert "hint" not in card.find_element(By.CSS_SELECTOR, ".message").text

    # Back to the hint model: its hint is still there and sent again.
    Select(browser.find_element(By.ID, "model")).select_by_visible_text("hints")
    WebDriverWait(browser, WAIT_S).until(lambda d: "colorized by hints" in card_named(d, photo.name).text)
    card = settled_with(browser, photo.name, "with 1 colour hint")
    assert card.find_element(By.CSS_SELECTOR, ".hints-tool").is_displayed()
