"""Package trees shaped like the real ones, for the sample-set tests (no download, no dpkg)."""

from __future__ import annotations

import pytest

from colorize.data import sample_sources
from colorize.data.sample_sources import PACKAGES


def _fake_root(tmp_path, photo: bytes) -> tuple:
    """Package trees shaped like the real ones; GCompris' .rcc contents come from fake_rcc."""
    root = tmp_path / "root"
    rcc_dir = root / "gcompris-qt-data" / sample_sources.GCOMPRIS_RCC_DIR
    rcc_dir.mkdir(parents=True)
    for bundle in sample_sources.GCOMPRIS_RULES:
        (rcc_dir / f"{bundle}.rcc").write_bytes(b"")
    prefix = "gcompris/src/activities"
    fake_rcc = {
        "categorization": [
            f"{prefix}/categorization/resource/images/fishes/fish1.webp",
            f"{prefix}/categorization/resource/images/alphabets/alphabets.webp",
            f"{prefix}/categorization/resource/images/tools/hammer.svg",
            f"{prefix}/categorization/resource/README",
        ],
        "details": [
            f"{prefix}/details/resource/image/TajMahal_background.webp",
            f"{prefix}/details/resource/image/TajMahal_0.webp",
            f"{prefix}/details/resource/image/Van_Gogh_The_Night_Cafe_background.webp",
            f"{prefix}/details/resource/image/VincentVanGogh0012_background.webp",
            f"{prefix}/details/resource/image/Gogh4_background.webp",
            f"{prefix}/details/resource/image/PortraitOfPereTanguy_background.webp",
            f"{prefix}/details/resource/image/Eglise_dAuvers-sur-Oise_background.webp",
        ],
        "clickgame": [f"{prefix}/clickgame/resource/sea1.webp", f"{prefix}/clickgame/resource/f00.webp"],
        "erase": [f"{prefix}/erase/resource/gorilla.webp", f"{prefix}/erase/Erase.qml"],
    }
    for files, base in [
        (["Nature/lake.jpg", "Nature/woods.gif", "Nature/scratchthumbs.db", "xy-grid.gif"], sample_sources.SCRATCH_DIR),
        (["sheep.jpg", "sheep-thumb.png"], sample_sources.TUXPAINT_DIR),
    ]:
        package = "scratch" if base == sample_sources.SCRATCH_DIR else "tuxpaint-data"
        for f in files:
            (root / package / base / f).parent.mkdir(parents=True, exist_ok=True)
            (root / package / base / f).write_bytes(photo)
    for package in PACKAGES:
        doc = root / package / "usr/share/doc" / package
        doc.mkdir(parents=True, exist_ok=True)
        (doc / "copyright").write_text(f"{package} license\n")

    def fake_iter_rcc(path):
        for resource in fake_rcc.get(path.stem, []):
            yield resource, photo

    return root, fake_iter_rcc


@pytest.fixture
def fake_root():
    """``fake_root(tmp_path, photo) -> (root, fake_iter_rcc)``: every file holds ``photo``."""
    return _fake_root
