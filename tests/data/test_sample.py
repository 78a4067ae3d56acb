"""The sample-set builder: screening filters and output on data made in tmp_path.

Only ``test_build_from_the_registries`` needs the network (the Debian registry and PyPI).
"""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin
from sample_fakes import MVTB_WHEEL, fake_sources, make_wheel

from colorize.data import sample, sample_sources
from colorize.data.sample import (
    DUPLICATE,
    GRAY,
    MANIFEST,
    SOURCES,
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


def test_screen_shrinks_large_photos_with_lanczos():
    src = np.random.default_rng(0).integers(0, 256, (300, 200, 3), dtype=np.uint8)  # portrait, detail everywhere
    (kept,) = screen([("p/tall", _encode(src, "PNG"))], max_side=150, min_side=32)
    assert (kept.reason, kept.width, kept.height) == (None, 100, 150)  # long side to max_side, aspect kept
    out = _decode(kept.data)
    assert out.shape == (150, 100, 3)
    filters = (Image.Resampling.LANCZOS, Image.Resampling.BICUBIC, Image.Resampling.BILINEAR, Image.Resampling.NEAREST)
    errors = {f: np.abs(out - np.asarray(Image.fromarray(src).resize((100, 150), f))).mean() for f in filters}
    assert min(errors, key=errors.get) == Image.Resampling.LANCZOS
    with Image.open(io.BytesIO(kept.data)) as image:
        assert JpegImagePlugin.get_sampling(image) == 0


def test_screen_reencodes_shrunk_jpegs_and_copies_fitting_ones():
    big = _encode(_colorful(400, 300), "JPEG", quality=80)
    (shrunk,) = screen([("p/big", big)], max_side=200)
    assert (shrunk.width, shrunk.height) == (200, 150) and shrunk.data != big
    with Image.open(io.BytesIO(shrunk.data)) as image:
        assert image.size == (200, 150)
    (fits,) = screen([("p/big", big)], max_side=400)
    assert fits.data == big  # long side exactly max_side: copied byte for byte
    assert sample.MAX_SIDE == 1600


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
def offline(tmp_path, monkeypatch):
    """build_sample_set with the fetch replaced by fake package trees and wheel; returns them."""
    fetched, fake_iter_rcc = fake_sources(tmp_path, _encode(_colorful(), "PNG"))
    monkeypatch.setattr(sample_sources, "iter_rcc", fake_iter_rcc)
    monkeypatch.setattr(sample, "fetch_sources", lambda cache_dir: fetched)
    return fetched


def _tree(d) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def _rows(out) -> dict[str, dict[str, str]]:
    header, *rows = (out / MANIFEST).read_text(encoding="utf-8").splitlines()
    records = [dict(zip(header.split("\t"), row.split("\t"), strict=True)) for row in rows]
    return {r["file"]: r for r in records}


def test_build_writes_photos_manifest_and_copyrights(tmp_path, offline):
    out = tmp_path / "sample"
    report = build_sample_set(out, tmp_path / "cache")
    # One photo's bytes everywhere: the first (in name order) is kept, the rest are duplicates.
    assert report.kept == {"darknet": 1, **dict.fromkeys(SOURCES[1:], 0)}
    assert len(report.dropped[DUPLICATE]) == 13
    files = _tree(out)
    assert set(files) == {MANIFEST, "darknet/dog.jpg", *(f"{p}/COPYRIGHT" for p in SOURCES)}
    assert files["scratch/COPYRIGHT"] == b"scratch license\n"
    assert b"License :: OSI Approved :: MIT License" in files["mvtb-data/COPYRIGHT"]
    header = files[MANIFEST].decode().splitlines()[0]
    assert header.split("\t") == list(sample.MANIFEST_COLUMNS)
    assert header.startswith("file\tpackage\tsource\twidth\theight\tcolorfulness\t")  # older readers keep working
    row = _rows(out)["darknet/dog.jpg"]
    assert row == {
        "file": "darknet/dog.jpg",
        "package": "darknet",
        "source": "/usr/share/darknet/data/dog.jpg",
        "width": "160",
        "height": "130",
        "colorfulness": row["colorfulness"],
        "archive": "darknet_1.0_all.deb",
    }
    assert float(row["colorfulness"]) > 5
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp folders left


def test_build_names_what_it_drops_from_the_new_sources(tmp_path, offline, capsys):
    """Gray and unreadable files from the wheel and the new packages are skipped, counted and named;
    an oversized photo is stored shrunk; an evaluation image never shows up anywhere."""
    gray = np.repeat(_colorful(seed=3)[..., :1], 3, axis=-1)
    make_wheel(
        offline.wheels["mvtb-data"],
        {
            "parks.png": _encode(_colorful(320, 240, seed=4), "PNG"),
            "castle.png": _encode(gray, "PNG"),
            "church.png": b"\x89PNG\r\n\x1a\n truncated",
            "lena.png": _encode(_colorful(seed=5), "PNG"),
        },
    )
    (offline.root / "darknet" / sample_sources.DARKNET_DIR / "eagle.jpg").write_bytes(_encode(gray, "JPEG"))
    out = tmp_path / "sample"
    assert main([str(out), "-v", "--max-side", "200"]) == 0
    printed = capsys.readouterr().out
    assert "mvtb-data 1" in printed and "gray 2" in printed and "unreadable 1" in printed
    assert "dropped (gray): darknet/eagle" in printed
    assert "dropped (gray): mvtb-data/castle" in printed
    assert "dropped (unreadable): mvtb-data/church" in printed
    assert "lena" not in printed and "lena" not in (out / MANIFEST).read_text()
    row = _rows(out)["mvtb-data/parks.jpg"]
    assert (row["width"], row["height"]) == ("200", "150")
    assert (row["source"], row["archive"]) == ("/mvtbdata/images/parks.png", MVTB_WHEEL)
    with Image.open(out / "mvtb-data/parks.jpg") as image:
        assert image.size == (200, 150)


def test_build_is_idempotent_and_replaces_changed_sets(tmp_path, offline):
    out = tmp_path / "sample"
    assert build_sample_set(out).changed
    first = _tree(out)
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    again = build_sample_set(out)
    assert not again.changed
    assert _tree(out) == first
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == mtimes  # untouched, not rewritten

    (out / "mvtb-data" / "stale.jpg").write_bytes(b"left over")
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
    assert (
        "kept 1 photos (darknet 1, gcompris-qt-data 0, libjxl-testdata 0, mvtb-data 0, palapeli-data 0, "
        "scratch 0, tuxpaint-data 0)"
    ) in printed
    assert "dropped 13 (too small 0, gray 0, duplicate 13, unreadable 0)" in printed


def test_main_reports_a_corrupt_wheel_in_one_line(tmp_path, offline, capsys):
    offline.wheels["mvtb-data"].write_bytes(b"not a zip")
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "sample")])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{MVTB_WHEEL}: not a readable wheel" in err
    assert not (tmp_path / "sample").exists()


@pytest.mark.registry
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("apt-get") is None or shutil.which("dpkg") is None, reason="needs apt-get and dpkg")
def test_build_from_the_registries(tmp_path):
    """The real thing: Debian packages with apt-get, the mvtb-data wheel from PyPI with pip."""
    out = tmp_path / "sample"
    report = build_sample_set(out, tmp_path / "cache")
    assert report.kept["gcompris-qt-data"] >= 250
    assert report.kept["scratch"] >= 45
    assert report.kept["tuxpaint-data"] >= 15
    assert report.kept["darknet"] == 6
    assert report.kept["palapeli-data"] == 5
    assert report.kept["libjxl-testdata"] == 4
    assert report.kept["mvtb-data"] >= 20
    rows = _rows(out)
    assert len(rows) == report.n_kept
    for name, row in rows.items():
        assert row["archive"].endswith((".deb", ".whl")) and row["package"] == name.split("/")[0]
        with Image.open(out / name) as image:
            assert image.size == (int(row["width"]), int(row["height"])) and image.mode == "RGB"
            assert max(image.size) <= sample.MAX_SIDE
    assert not {"mvtb-data/lena.jpg", "mvtb-data/butterfly.jpg", "darknet/scream.jpg"} & set(rows)
    assert b"MIT License" in (out / "mvtb-data" / "COPYRIGHT").read_bytes()
    assert not build_sample_set(out, tmp_path / "cache").changed
