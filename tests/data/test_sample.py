"""The sample-set builder: screening filters and output on data made in tmp_path.

Only ``test_build_from_debian_registry`` needs the network (the Debian registry).
"""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from colorize.data import sample, sample_sources
from colorize.data.sample import (
    DUPLICATE,
    GRAY,
    MANIFEST,
    PACKAGES,
    TOO_SMALL,
    UNREADABLE,
    Candidate,
    build_sample_set,
    main,
    screen,
)


def _colorful(w: int = 160, h: int = 130, seed: int = 0) -> np.ndarray:
    """Smooth color ramps plus noise: colorfulness far above the threshold."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([255 * x / w, 255 * y / h, 255 * (1 - x / w)], axis=-1)
    return np.clip(rgb + rng.normal(0, 4, rgb.shape), 0, 255).astype(np.uint8)


def _encode(pixels: np.ndarray, fmt: str, **kwargs) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, fmt, **kwargs)
    return out.getvalue()


def _decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)


# --- screening -----------------------------------------------------------------------------------


def test_screen_drops_each_kind_and_keeps_the_photo():
    photo = _colorful()
    gray = np.repeat(_colorful()[..., :1], 3, axis=-1)
    candidates = [
        ("p/photo", _encode(photo, "PNG")),
        ("p/tiny", _encode(_colorful(60, 40, seed=1), "PNG")),
        ("p/gray", _encode(gray, "JPEG", quality=90)),
        ("p/same_pixels_as_photo", _encode(photo, "WEBP", lossless=True)),  # other bytes, same pixels
        ("p/corrupt", _encode(_colorful(seed=2), "PNG")[:200]),
        ("p/not_an_image", b"hello"),
    ]
    verdicts = {s.name: s for s in screen(candidates, min_side=128, min_colorfulness=5.0)}
    assert {n: s.reason for n, s in verdicts.items()} == {
        "p/photo": None,
        "p/tiny": TOO_SMALL,
        "p/gray": GRAY,
        "p/same_pixels_as_photo": DUPLICATE,
        "p/corrupt": UNREADABLE,
        "p/not_an_image": UNREADABLE,
    }
    kept = verdicts["p/photo"]
    assert (kept.width, kept.height) == (160, 130)
    assert kept.colorfulness > 20
    with Image.open(io.BytesIO(kept.data)) as image:
        assert image.format == "JPEG"
        assert JpegImagePlugin.get_sampling(image) == 0  # 4:4:4: chroma kept at full resolution
    assert np.abs(_decode(kept.data) - photo).mean() < 3  # q95: close to the source
    assert all(s.data == b"" for s in verdicts.values() if s.reason)


def test_screen_thresholds_are_parameters():
    tiny = ("p/tiny", _encode(_colorful(60, 40), "PNG"))
    assert next(screen([tiny], min_side=128)).reason == TOO_SMALL
    assert next(screen([tiny], min_side=32)).reason is None
    assert next(screen([tiny], min_side=32, min_colorfulness=1000)).reason == GRAY


def test_screen_first_of_duplicates_wins_in_given_order():
    data = _encode(_colorful(), "PNG")
    reasons = [s.reason for s in screen([Candidate("a/x", data), Candidate("b/y", data)])]
    assert reasons == [None, DUPLICATE]


def test_screen_copies_rgb_jpeg_sources_byte_for_byte():
    data = _encode(_colorful(), "JPEG", quality=80)
    (kept,) = screen([("p/photo", data)])
    assert kept.data == data


def test_screen_composites_transparency_over_white():
    rgba = np.zeros((140, 140, 4), np.uint8)  # black where transparent: must not show
    rgba[:70, :, :3] = _colorful(140, 70)
    rgba[:70, :, 3] = 255
    (kept,) = screen([("p/cutout", _encode(rgba, "PNG"))])
    assert kept.reason is None
    assert _decode(kept.data)[80:].min() > 245


def test_screen_reads_first_gif_frame():
    frames = [Image.fromarray(_colorful(seed=s)).convert("P") for s in range(2)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:])
    (kept,) = screen([("p/anim", out.getvalue())])
    assert kept.reason is None
    assert np.abs(_decode(kept.data) - np.asarray(frames[0].convert("RGB"))).mean() < 3


# --- building ------------------------------------------------------------------------------------


@pytest.fixture
def offline(tmp_path, monkeypatch, fake_root):
    """build_sample_set with the fetch replaced by a fake package tree; returns that root."""
    root, fake_iter_rcc = fake_root(tmp_path, _encode(_colorful(), "PNG"))
    monkeypatch.setattr(sample_sources, "iter_rcc", fake_iter_rcc)
    monkeypatch.setattr(sample, "fetch_packages", lambda cache_dir: root)
    return root


def _tree(d) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_build_writes_photos_manifest_and_copyrights(tmp_path, offline):
    out = tmp_path / "sample"
    report = build_sample_set(out, tmp_path / "cache")
    # One photo's bytes everywhere: the first (in name order) is kept, the rest are duplicates.
    assert report.kept == {"gcompris-qt-data": 1, "scratch": 0, "tuxpaint-data": 0}
    assert len(report.dropped[DUPLICATE]) == 5
    files = _tree(out)
    assert set(files) == {
        MANIFEST,
        "gcompris-qt-data/categorization__images__fishes__fish1.jpg",
        *(f"{p}/COPYRIGHT" for p in PACKAGES),
    }
    assert files["scratch/COPYRIGHT"] == b"scratch license\n"
    header, row = files[MANIFEST].decode().splitlines()
    assert header.split("\t") == list(sample.MANIFEST_COLUMNS)
    name, package, source, w, h, cf = row.split("\t")
    assert (name, package, w, h) == ("gcompris-qt-data/categorization__images__fishes__fish1.jpg",
                                     "gcompris-qt-data", "160", "130")  # fmt: skip
    assert source.endswith(
        "categorization.rcc:/gcompris/src/activities/categorization/resource/images/fishes/fish1.webp"
    )
    assert float(cf) > 5
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp folders left


def test_build_is_idempotent_and_replaces_changed_sets(tmp_path, offline):
    out = tmp_path / "sample"
    assert build_sample_set(out).changed
    first = _tree(out)
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    again = build_sample_set(out)
    assert not again.changed
    assert _tree(out) == first
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == mtimes  # untouched, not rewritten

    (out / "gcompris-qt-data" / "stale.jpg").write_bytes(b"left over")
    assert build_sample_set(out).changed
    assert _tree(out) == first


def test_build_refuses_to_replace_a_foreign_folder(tmp_path, offline):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "mine.jpg").write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="photos"):
        build_sample_set(out)
    assert (out / "mine.jpg").read_bytes() == b"precious"


def test_main_prints_one_summary(tmp_path, offline, capsys):
    assert main([str(tmp_path / "sample"), "--cache-dir", str(tmp_path / "cache")]) == 0
    printed = capsys.readouterr().out
    assert "kept 1 photos (gcompris-qt-data 1, scratch 0, tuxpaint-data 0)" in printed
    assert "dropped 5 (too small 0, gray 0, duplicate 5, unreadable 0)" in printed


@pytest.mark.registry
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("apt-get") is None or shutil.which("dpkg") is None, reason="needs apt-get and dpkg")
def test_build_from_debian_registry(tmp_path):
    out = tmp_path / "sample"
    report = build_sample_set(out, tmp_path / "cache")
    assert report.kept["gcompris-qt-data"] >= 250
    assert report.kept["scratch"] >= 45
    assert report.kept["tuxpaint-data"] >= 15
    rows = (out / MANIFEST).read_text().splitlines()[1:]
    assert len(rows) == report.n_kept
    for row in rows:
        name, _, _, w, h, _ = row.split("\t")
        with Image.open(out / name) as image:
            assert image.size == (int(w), int(h)) and image.mode == "RGB"
    assert not build_sample_set(out, tmp_path / "cache").changed
