"""Only the documented photo formats are decoded: an EPS renamed ``.jpg`` is skipped by name in fit, predict,
serve and the sample builder, and Pillow's EPS reader (which hands the file to Ghostscript) never runs."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from PIL import EpsImagePlugin, Image
from tiny_runs import make_photo

from colorize.cli import run_cli
from colorize.data.dataset import PhotoDataset
from colorize.data.images import PHOTO_FORMATS, UnreadableImageError, load_rgb
from colorize.data.sample import UNREADABLE, screen

EPS = (
    b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\n%%EndComments\n"
    b"newpath 0 0 moveto 64 64 lineto stroke showpage\n%%EOF\n"
)
EXPORT = Path(__file__).resolve().parent / "fixtures" / "before_regroup" / "tiny_before_regroup.safetensors"


@pytest.fixture
def eps_opened(monkeypatch):
    """Every file Pillow's EPS plugin is asked to parse (it would call Ghostscript to decode it)."""
    opened = []
    original = EpsImagePlugin.EpsImageFile._open

    def spy(self):
        opened.append(getattr(self.fp, "name", "<bytes>"))
        return original(self)

    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", spy)
    Image.init()
    return opened


def test_pillow_would_open_it_without_the_allow_list(tmp_path, eps_opened):
    """The premise: Pillow detects EPS by content, whatever the name."""
    (tmp_path / "cat.jpg").write_bytes(EPS)
    with Image.open(tmp_path / "cat.jpg") as image:
        assert image.format == "EPS"
    assert eps_opened
    assert "EPS" not in PHOTO_FORMATS


def test_fit_skips_it_by_name(tmp_path, eps_opened, caplog):
    (tmp_path / "cat.jpg").write_bytes(EPS)
    with pytest.raises(UnreadableImageError, match=r"cat\.jpg: not a photo in a format colorize reads \(JPEG"):
        load_rgb(tmp_path / "cat.jpg")
    with caplog.at_level(logging.WARNING):
        item = PhotoDataset([tmp_path / "cat.jpg"], image_size=16)[0]
    assert item == {"skip": "unreadable", "path": str(tmp_path / "cat.jpg")}
    assert "cat.jpg" in caplog.text and eps_opened == []


def test_predict_skips_it_by_name_and_colorizes_the_rest(tmp_path, eps_opened, caplog):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "cat.jpg").write_bytes(EPS)
    make_photo(0).save(photos / "dog.jpg")
    args = ["predict", "--ckpt_path", str(EXPORT), "--input", str(photos), "--output", str(tmp_path / "out")]
    with caplog.at_level(logging.WARNING):
        run_cli([*args, "--trainer.logger=false", f"--trainer.default_root_dir={tmp_path}", "--data.num_workers=0"])
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["dog.png"]
    assert "cat.jpg" in caplog.text and eps_opened == []


def test_serve_refuses_it_by_name(tmp_path, eps_opened):
    import asyncio

    from colorize.serve.uploads import PhotoStore, UploadRejected

    async def body():
        yield EPS

    with PhotoStore(parent=str(tmp_path)) as store:
        folder = asyncio.run(store.receive("cat.jpg", body(), len(EPS)))
        with pytest.raises(UploadRejected, match=r"^cat\.jpg: not an image this server can read") as caught:
            store.admit(folder, "cat.jpg")
        assert caught.value.status == 400 and list(store.folder.iterdir()) == []
    assert eps_opened == []


def test_the_sample_builder_drops_it_as_unreadable(eps_opened):
    good = io.BytesIO()
    make_photo(1, 200, 200).save(good, "PNG")
    verdicts = {s.name: s.reason for s in screen([("cat.jpg", EPS), ("dog.png", good.getvalue())], min_side=16)}
    assert verdicts == {"cat.jpg": UNREADABLE, "dog.png": None}
    assert eps_opened == []
