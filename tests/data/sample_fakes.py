"""Package trees and wheels shaped like the real ones, for the sample-set tests (no download, no dpkg).

A plain module, not a conftest: the tests import its helpers and constants by name.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from colorize.data import sample_sources
from colorize.data.sample_sources import PACKAGES, Fetched

MVTB_WHEEL = "mvtb_data-1.6.1-py3-none-any.whl"
MVTB_METADATA = (
    "Metadata-Version: 2.4\nName: mvtb-data\nVersion: 1.6.1\nSummary: Image and data files\n"
    "Author-email: Peter Corke <rvc@petercorke.com>\nClassifier: Programming Language :: Python :: 3 :: Only\n"
    "Classifier: License :: OSI Approved :: MIT License\n\n# A long description that is not a header\n"
)
# Members of the fake mvtb-data wheel, relative to mvtbdata/images/, and what the rules must do.
MVTB_KEPT = ("church.png", "eiffel-1.png", "rocks2-l.png", "walls-l.png")
MVTB_LEFT_OUT = (
    *("church.jpg", "lena.png", "butterfly.jpg", "calibration/left01.jpg", "58060.png", "monalisa.png"),
    *("multiblobs.png", "tags.png", "rocks2-r.png", "walls-r.png", "__init__.py", "timestamps.dat"),
)


def make_wheel(path: Path, members: dict[str, bytes], *, license_text: str | None = None) -> Path:
    """A wheel (a zip) holding ``members`` under ``mvtbdata/images/`` and a .dist-info with METADATA."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("mvtbdata/__init__.py", "")
        for name, data in members.items():
            zf.writestr(f"{sample_sources.MVTB_IMAGES}{name}", data)
        zf.writestr("mvtb_data-1.6.1.dist-info/METADATA", MVTB_METADATA)
        if license_text is not None:
            zf.writestr("mvtb_data-1.6.1.dist-info/LICENSE", license_text)
    return path


def fake_sources(tmp_path, photo: bytes) -> tuple:
    """Package trees shaped like the real ones, every file holding ``photo``; returns
    ``(Fetched(root, {"mvtb-data": wheel}), fake_iter_rcc)``: GCompris' .rcc contents come from
    fake_iter_rcc."""
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
    trees = {
        "scratch": (sample_sources.SCRATCH_DIR, ["Nature/lake.jpg", "Nature/woods.gif", "Nature/scratchthumbs.db",
                                                 "xy-grid.gif"]),
        "tuxpaint-data": (sample_sources.TUXPAINT_DIR, ["sheep.jpg", "sheep-thumb.png"]),
        "darknet": (sample_sources.DARKNET_DIR, ["dog.jpg", "scream.jpg", "labels/a_0.png", "coco.names"]),
        "palapeli-data": (sample_sources.PALAPELI_DIR, ["citrus-fruits.jpg", "citrus-fruits.desktop"]),
        "libjxl-testdata": (sample_sources.LIBJXL_DIR, [
            "jxl/flower/flower.png", "jxl/flower/flower_cropped.jpg", "jxl/flower/flower.png.im_q85_420.jpg",
            "jxl/flower/flower_alpha.png", "jxl/hdr_room.png", "jxl/traffic_light.gif",
            "external/wesaturate/500px/tulips_srgb8.png", "external/wesaturate/500px/tulips_alpha.png",
            "external/wesaturate/500px/rock_grayscale.png", "external/wesaturate/64px/rock_srgb8.png",
            "external/wide-gamut-tests/P3-sRGB-red.png", "external/raw.pixls/Nikon-D300-12bit_srgb8_dt.png",
        ]),
    }  # fmt: skip
    trees["palapeli-data"][1].append("../backgrounds/wood.jpg")  # a texture beside the puzzles
    for package, (base, files) in trees.items():
        for f in files:
            path = root / package / base / f
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(photo)
    for package in PACKAGES:
        doc = root / package / "usr/share/doc" / package
        doc.mkdir(parents=True, exist_ok=True)
        (doc / "copyright").write_text(f"{package} license\n")
        (root / f"{package}.deb-name").write_text(f"{package}_1.0_all.deb")
    wheel = make_wheel(tmp_path / "wheels" / MVTB_WHEEL, dict.fromkeys((*MVTB_KEPT, *MVTB_LEFT_OUT), photo))

    def fake_iter_rcc(path):
        for resource in fake_rcc.get(path.stem, []):
            yield resource, photo

    return Fetched(root, {"mvtb-data": wheel}), fake_iter_rcc
