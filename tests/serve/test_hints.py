"""Colour hints in ``colorize serve``'s picture requests: checked as the CLI's, cached apart, refused where untaken."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
import torch
from kornia.color import rgb_to_lab
from PIL import Image
from starlette.testclient import TestClient
from test_app import L_TOLERANCE, as_tensor, png_bytes, upload
from tiny_runs import hint_following_checkpoint

from colorize.inference.colorizer import load_colorizer
from colorize.inference.hints import Hint, hex_to_ab
from colorize.serve.hints import MAX_HINTS, HintsRefused, check_takes_hints, hints_key, read_hints

GREEN = "#3a9a40"
WIDTH, HEIGHT = 75, 50


def gray_photo() -> Image.Image:
    """Mid-gray (room for colour at its lightness) with a lighter square, sides no multiple of any stride."""
    pixels = np.full((HEIGHT, WIDTH, 3), 110, dtype=np.uint8)
    pixels[10:30, 40:65] = 150
    return Image.fromarray(pixels)


def lab(rgb: torch.Tensor) -> torch.Tensor:
    return rgb_to_lab(rgb.float().div(255).unsqueeze(0))[0]


def hints_query(entries) -> str:
    return "&hints=" + quote(json.dumps(entries))


@pytest.fixture
def client(serve_app, fake_colorizer_class, tmp_path):
    """Model 0: one whose a*b* follows the hints (tests/tiny_runs.py); model 1: a hint-free stand-in."""
    from colorize.serve.app import create_app
    from colorize.serve.catalog import Catalog, ModelChoice
    from colorize.serve.uploads import PhotoStore

    following = load_colorizer(hint_following_checkpoint(tmp_path))
    calls = []
    colorize = following.colorize
    following.colorize = lambda rgb, hints=None: calls.append(hints) or colorize(rgb, hints=hints)
    colorizers = {"hints": following, "plain": fake_colorizer_class("plain")}
    catalog = Catalog([ModelChoice(n, Path(n)) for n in colorizers], loader=lambda path, device: colorizers[str(path)])
    with PhotoStore() as store, TestClient(create_app(catalog, store)) as client:
        client.calls = calls
        client.base = f"/api/photos/{upload(client, png_bytes(gray_photo()), 'attic.png').json()['id']}"
        yield client


def test_the_model_info_says_which_model_takes_hints(client):
    assert client.get("/api/models/0").json()["takes_hints"] is True
    assert client.get("/api/models/1").json()["takes_hints"] is False


def test_hints_move_the_colour_towards_theirs_keep_the_lightness_and_are_cached_apart(client):
    plain = as_tensor(client.get(f"{client.base}/colorized.png?model=0&full=1"))
    assert lab(plain)[1:].abs().max() < 1.5  # the hint-following model paints nothing by itself
    hint = [{"x": 50, "y": 20, "color": GREEN}]
    hinted = as_tensor(client.get(f"{client.base}/colorized.png?model=0&full=1{hints_query(hint)}"))
    assert hinted.shape == plain.shape == (3, HEIGHT, WIDTH)
    a, b = hex_to_ab(GREEN)
    got = lab(hinted)[1:, 20, 50]
    assert (got - torch.tensor([a, b])).norm() < 6  # the model's a*b* are about the hint's (tiny_runs.py)
    unclipped = ((hinted > 0) & (hinted < 255)).all(dim=0)
    assert unclipped.float().mean() > 0.5
    assert (lab(hinted)[0] - lab(plain)[0]).abs()[unclipped].max() <= L_TOLERANCE
    assert len(client.calls) == 2 and client.calls[1][0] == Hint(50, 20, a, b)

    # The same hint again, or given as its a*b*, is the cached picture; removing it gives the hint-free one.
    again = as_tensor(client.get(f"{client.base}/colorized.png?model=0&full=1{hints_query(hint)}"))
    as_ab = [{"x": 50, "y": 20, "ab": [a, b]}]
    assert torch.equal(as_tensor(client.get(f"{client.base}/colorized.png?model=0&full=1{hints_query(as_ab)}")), again)
    assert torch.equal(again, hinted)
    assert torch.equal(as_tensor(client.get(f"{client.base}/colorized.png?model=0&full=1&hints=%5B%5D")), plain)
    assert len(client.calls) == 2
    # Another hint set is computed, not taken from the cache.
    moved = [{"x": 10, "y": 40, "color": "#a05a50", "size": 4}]
    other = as_tensor(client.get(f"{client.base}/colorized.png?model=0&full=1{hints_query(moved)}"))
    assert len(client.calls) == 3 and lab(other)[1, 40, 10] > 10  # reddish: a* > 0


def test_hints_reach_the_model_at_every_colour_strength_and_in_the_download(client):
    hint = hints_query([{"x": 50, "y": 20, "color": GREEN}])
    chroma = {}
    for strength in (0.5, 1):
        picture = as_tensor(client.get(f"{client.base}/colorized.png?model=0&strength={strength}&full=1{hint}"))
        chroma[strength] = float(lab(picture)[1:].norm(dim=0).mean())
    assert 5 < chroma[0.5] < chroma[1] - 5
    download = client.get(f"{client.base}/colorized.png?model=0{hint}&download=1")
    assert "attic-colorized.png" in download.headers["content-disposition"]
    assert float(lab(as_tensor(download))[1:].norm(dim=0).mean()) == pytest.approx(chroma[1], abs=0.01)


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([{"x": 80, "y": 1, "color": GREEN}], "'attic.png' hint 0: (80, 1) is outside the photo (75x50 px)"),
        ([{"x": 1, "y": 1, "color": GREEN}, {"x": 1, "y": 50, "ab": [0, 0]}], "'attic.png' hint 1: (1, 50) is outside"),
        ([{"x": 1, "y": 1, "color": "green"}], "'attic.png' hint 0: color must be an sRGB hex '#rrggbb', got 'green'"),
        ([{"x": 1, "y": 1, "colour": GREEN}], "'attic.png' hint 0: unknown keys ['colour'] (known: x, y, color, ab"),
        ([{"x": 1, "y": 1, "ab": [1, 2, 3]}], "'attic.png' hint 0: ab must be [a*, b*], got [1, 2, 3]"),
        ({"x": 1, "y": 1}, "'attic.png': hints must be a list"),
        ([{"x": 1, "y": 1, "color": GREEN}] * (MAX_HINTS + 1), f"attic.png: {MAX_HINTS + 1} hints; a picture takes"),
    ],
)  # fmt: skip
def test_a_bad_hint_is_refused_in_one_line_naming_the_photo_and_the_hint(client, entries, message):
    answer = client.get(f"{client.base}/colorized.png?model=0{hints_query(entries)}")
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error.startswith(message) and "\n" not in error
    assert client.calls == []  # refused before any work
    assert client.get(f"{client.base}/colorized.png?model=0").status_code == 200  # and the server goes on


def test_hints_that_are_not_json_or_too_long_are_refused(client):
    answer = client.get(f"{client.base}/colorized.png?model=0&hints=%5B%7Bx")
    assert answer.status_code == 400 and answer.json()["error"].startswith("attic.png: the hints are not JSON: ")
    long = client.get(f"{client.base}/colorized.png?model=0&hints=" + "%20" * 8001 + "%5B%5D")
    assert long.status_code == 400 and "at most 8000 are taken" in long.json()["error"]


def test_hints_for_a_model_trained_without_them_are_refused_saying_why(client):
    answer = client.get(f"{client.base}/colorized.png?model=1{hints_query([{'x': 5, 'y': 5, 'color': GREEN}])}")
    assert answer.status_code == 400
    assert answer.json()["error"] == (
        "model plain cannot take colour hints: it was trained without hints "
        "(configs/offline_hints.yaml trains one that takes them)"
    )
    assert client.get(f"{client.base}/colorized.png?model=1&hints=%5B%5D").status_code == 200  # none is fine


def test_read_hints_and_hints_key():
    assert read_hints(None, "p.png", (10, 10)) == [] == read_hints("", "p.png", (10, 10))
    one = read_hints('[{"x": 3, "y": 4, "color": "#3a9a40", "size": 2}]', "p.png", (10, 10))
    assert one == [Hint(3, 4, *hex_to_ab(GREEN), 2)]
    assert hints_key([]) == "" and hints_key(one).startswith("-h")
    assert hints_key(one) != hints_key([Hint(3, 4, *hex_to_ab(GREEN), 3)]) != hints_key([Hint(4, 4, 1, 1, 2)])
    with pytest.raises(HintsRefused, match="model plain cannot take colour hints"):
        check_takes_hints(object(), "plain", one)
    check_takes_hints(object(), "plain", [])
