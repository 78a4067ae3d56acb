"""The routes of ``colorize serve``, through Starlette's in-process client (no browser, no socket)."""

from __future__ import annotations

import io
import re
from urllib.parse import quote

import numpy as np
import pytest
import torch
from kornia.color import rgb_to_lab
from PIL import Image
from starlette.testclient import TestClient

from colorize.data.colorfulness import colorfulness
from colorize.serve.app import STATIC_DIR
from colorize.serve.uploads import UploadLimits

# See tests/test_inference.py: uint8 rounding moves L* by at most ~0.27.
L_TOLERANCE = 0.5


def photo(width: int = 75, height: int = 50, seed: int = 0) -> Image.Image:
    """A smooth colour photo whose sides are no multiple of the fake generator's stride."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    channels = [0.5 + 0.4 * np.sin(rng.uniform(2, 9) * x + rng.uniform(2, 9) * y + rng.uniform(0, 6)) for _ in "rgb"]
    return Image.fromarray((np.stack(channels, -1) * 255).round().astype(np.uint8))


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def upload(client: TestClient, data: bytes, name: str = "photo.png"):
    # URL-encoded, as the page's encodeURIComponent sends it: headers are ASCII.
    return client.post("/api/photos", content=data, headers={"X-Filename": quote(name)})


def as_tensor(response) -> torch.Tensor:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return torch.from_numpy(np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB")).copy()).permute(2, 0, 1)


def lightness(rgb: torch.Tensor) -> torch.Tensor:
    return rgb_to_lab(rgb.float().div(255).unsqueeze(0))[0, 0]


@pytest.fixture
def client(serve_app):
    app, store, colorizers = serve_app()
    with TestClient(app) as client:
        client.store, client.colorizers = store, colorizers
        yield client


def test_the_page_loads_nothing_from_elsewhere(client):
    page = client.get("/")
    assert page.status_code == 200 and "<title>colorize</title>" in page.text
    for path in ("static/page.js", "static/page.css"):
        assert path in page.text
        assert client.get(f"/{path}").status_code == 200
    for file in STATIC_DIR.iterdir():
        text = file.read_text()
        # No absolute URL of any kind (http:, https:, protocol-relative //host), no @import or web font.
        assert not re.search(r"https?:|[\"'(]//\w|@import|@font-face", text), file.name


def test_models_lists_the_menu_and_limits_and_describes_a_model(client):
    menu = client.get("/api/models").json()
    assert [m["label"] for m in menu["models"]] == ["first", "second"]
    assert menu["limits"] == {"max_bytes": 50_000_000, "max_pixels": 100_000_000}
    first = client.get("/api/models/0").json()
    assert first["name"] == "first" and first["image_size"] == 16
    assert [row["metric"] for row in first["accuracy"]] == ["pixel_acc@2%", "pixel_acc@5%"]
    assert first["accuracy"][0] == {"metric": "pixel_acc@2%", "model": 0.3, "gray": 0.2}
    assert first["accuracy"][1]["gray"] is None
    assert client.get("/api/models/1").json()["accuracy"] == []
    missing = client.get("/api/models/7")
    assert missing.status_code == 404 and "no model '7'" in missing.json()["error"]


def test_upload_gives_gray_original_and_full_size_colorized_with_the_input_lightness(client):
    image = photo()
    info = upload(client, png_bytes(image), "Grand-père's garden.png").json()
    assert info["name"] == "Grand-père's garden.png"
    assert (info["width"], info["height"], info["has_color"]) == (75, 50, True)
    base = f"/api/photos/{info['id']}"
    original = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)

    gray = as_tensor(client.get(f"{base}/gray.png"))
    assert (gray[0] == gray[1]).all() and (gray[1] == gray[2]).all()
    assert torch.equal(as_tensor(client.get(f"{base}/original.png")), original)

    download = client.get(f"{base}/colorized.png?model=0&strength=1&download=1")
    assert "attachment" in download.headers["content-disposition"]
    assert "Grand-p%C3%A8re%27s%20garden-colorized.png" in download.headers["content-disposition"]
    out = as_tensor(download)
    assert out.shape == (3, 50, 75)
    unclipped = ((out > 0) & (out < 255)).all(dim=0)
    assert unclipped.float().mean() > 0.5  # enough pixels to compare
    assert (lightness(out) - lightness(original)).abs()[unclipped].max() <= L_TOLERANCE
    assert float(colorfulness(out)) > float(colorfulness(gray)) + 1
    # Strength 1 is the model's own output, unchanged.
    assert torch.equal(out, client.colorizers["first"].colorize(original))


def test_colour_strength_scales_the_colour_and_keeps_the_lightness(client):
    info = upload(client, png_bytes(photo(seed=3))).json()
    base = f"/api/photos/{info['id']}"
    gray = as_tensor(client.get(f"{base}/gray.png"))
    by_strength = {s: as_tensor(client.get(f"{base}/colorized.png?strength={s}&full=1")) for s in (0, 0.5, 1, 2)}
    assert (by_strength[0].int() - gray.int()).abs().max() <= 1
    scores = [float(colorfulness(by_strength[s])) for s in (0, 0.5, 1, 2)]
    assert scores == sorted(scores) and scores[-1] > scores[0] + 2
    for image in by_strength.values():
        unclipped = ((image > 0) & (image < 255)).all(dim=0)
        assert (lightness(image) - lightness(gray)).abs()[unclipped].max() <= L_TOLERANCE
    for bad in ("3", "-0.1", "nan", "lots"):
        answer = client.get(f"{base}/colorized.png?strength={bad}")
        assert answer.status_code == 400 and "strength" in answer.json()["error"]


def test_a_second_model_colorizes_differently_and_a_repeat_is_cached(client):
    base = f"/api/photos/{upload(client, png_bytes(photo(seed=5))).json()['id']}"
    client.colorizers["second"].generator.conv.bias.data.neg_()
    first = as_tensor(client.get(f"{base}/colorized.png?model=0"))
    second = as_tensor(client.get(f"{base}/colorized.png?model=1"))
    assert not torch.equal(first, second)
    calls = client.colorizers["first"].calls
    assert torch.equal(as_tensor(client.get(f"{base}/colorized.png?model=0")), first)
    assert client.colorizers["first"].calls == calls
    assert client.get(f"{base}/colorized.png?model=2").status_code == 404


def truncated_png() -> bytes:
    data = png_bytes(photo(200, 150))
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    ("data", "name", "words"),
    [
        (b"%PDF-1.4 not a photo at all", "notes.pdf", "not an image"),
        (truncated_png(), "half copied.png", "truncated"),
        (b"", "empty.jpg", "empty"),
    ],
)
def test_bad_files_get_a_message_naming_them_and_the_server_goes_on(client, data, name, words):
    answer = upload(client, data, name)
    assert answer.status_code == 400
    message = answer.json()["error"]
    assert message.startswith(f"{name}: ") and words in message
    assert list(client.store.folder.iterdir()) == []  # nothing kept of a refused upload
    good = upload(client, png_bytes(photo()))
    assert good.status_code == 200
    assert as_tensor(client.get(f"/api/photos/{good.json()['id']}/colorized.png")).shape == (3, 50, 75)


def test_over_large_uploads_get_a_clear_message(serve_app):
    app, store, _ = serve_app(limits=UploadLimits(max_bytes=20_000, max_pixels=5_000))
    with TestClient(app) as client:
        too_heavy = upload(client, b"\0" * 20_001, "scan.tif")
        assert too_heavy.status_code == 413
        assert too_heavy.json()["error"] == "scan.tif: 0.0 MB; photos may be at most 0.02 MB"
        too_big = upload(client, png_bytes(photo(100, 60)), "panorama.png")
        assert too_big.status_code == 413
        assert too_big.json()["error"].startswith("panorama.png: 100 × 60 is 0.0 megapixels; photos may have at most")
        assert list(store.folder.iterdir()) == []
        assert upload(client, png_bytes(photo(60, 40))).status_code == 200


def test_uploads_live_in_one_temporary_folder_removed_at_shutdown(serve_app, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app, store, _ = serve_app(max_photos=2)
    with TestClient(app) as client:
        ids = [upload(client, png_bytes(photo(seed=i))).json()["id"] for i in range(3)]
        assert client.get(f"/api/photos/{ids[2]}/colorized.png").status_code == 200
        assert sorted(p.name for p in store.folder.iterdir()) == sorted(ids[1:])  # the oldest was evicted
        gone = client.get(f"/api/photos/{ids[0]}/gray.png")
        assert gone.status_code == 404 and "upload it again" in gone.json()["error"]
    assert not store.folder.exists()
    assert list(tmp_path.iterdir()) == []  # nothing written where the server was started


def test_a_loopback_server_refuses_foreign_host_names(serve_app):
    app, _, _ = serve_app(allowed_hosts=["127.0.0.1", "localhost"])
    assert TestClient(app, base_url="http://127.0.0.1:8000").get("/api/models").status_code == 200
    assert TestClient(app, base_url="http://localhost:8000").get("/").status_code == 200
    assert TestClient(app, base_url="http://attacker.example").get("/api/models").status_code == 400
