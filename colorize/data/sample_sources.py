"""Where the sample photos come from: fetching the packages and the name rules that pick photographs.

Why a module of its own: :mod:`colorize.data.sample` judges and writes pictures, whatever their
origin; this one knows the packages: how to fetch them without installing anything (``apt-get
download`` + ``dpkg -x`` into a cache, no root) and which of their files are photographs. The
packages also hold drawings, paintings and sprites that a name tells apart better than any pixel
statistic (bokeh photos are as flat as cartoons), so the rules are curated names, picked by eye.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from fnmatch import fnmatchcase
from pathlib import Path
from typing import NamedTuple

from colorize.data.rcc import iter_rcc

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_CACHE_DIR",
    "PACKAGES",
    "Candidate",
    "FetchError",
    "collect_candidates",
    "fetch_packages",
]

PACKAGES = ("gcompris-qt-data", "scratch", "tuxpaint-data")
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
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif")


class Candidate(NamedTuple):
    """An image file that name rules call a photograph, before screening.

    ``name`` is the output path without suffix, ``<package>/<sanitized path>``; ``source`` is
    where it came from (for the manifest), ``<file>`` or ``<file.rcc>:/<resource path>``.
    """

    name: str
    data: bytes
    source: str = ""


class FetchError(RuntimeError):
    """apt-get or dpkg is missing or failed; the message says what to run."""


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


def _files(tree: Path, package: str, base: str, pattern: str, skip: frozenset[str]) -> Iterator[Candidate]:
    for path in sorted((tree / base).glob(pattern)):
        rel = path.relative_to(tree / base).as_posix()
        if path.is_file() and path.suffix.lower() in PHOTO_SUFFIXES and rel not in skip and "thumb" not in rel:
            yield Candidate(f"{package}/{_sanitize(rel.split('/'))}", path.read_bytes(), f"/{base}/{rel}")


def collect_candidates(root: str | os.PathLike[str]) -> list[Candidate]:
    """Every image the name rules call a photograph, sorted by name, from ``<root>/<package>/``.

    Raises:
        ValueError: two sources sanitize to the same output name, or a ``.rcc`` is corrupt.
    """
    root = Path(root)
    candidates = [
        *_gcompris(root / "gcompris-qt-data"),
        *_files(root / "scratch", "scratch", SCRATCH_DIR, "*/*", SCRATCH_NOT_PHOTOS),
        *_files(root / "tuxpaint-data", "tuxpaint-data", TUXPAINT_DIR, "*", frozenset()),
    ]
    candidates.sort(key=lambda c: c.name)
    for a, b in zip(candidates, candidates[1:], strict=False):
        if a.name == b.name:
            raise ValueError(f"{a.source} and {b.source} would both be written as {a.name}.jpg")
    return candidates
