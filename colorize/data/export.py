"""Export one subset of a run's split as full-resolution grayscale photos.

The demo colorizes photos the model never saw in training: the held-out test split,
converted to gray as old photographs would be. Usage:

    colorize data export runs/demo/split.json runs/demo/test_gray [--subset test] [--color]
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from colorize.data.images import UnreadableImageError, load_rgb
from colorize.data.splits import Split

log = logging.getLogger(__name__)


def export_subset(split_file: str | Path, out_dir: str | Path, subset: str = "test", grayscale: bool = True) -> int:
    """Write ``subset``'s photos to ``out_dir`` as PNG (8-bit gray, or RGB); returns how many were written."""
    split = Split.load(split_file)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for relative, path in zip(getattr(split, subset), split.paths(subset), strict=True):
        try:
            image = load_rgb(path)
        except UnreadableImageError as error:
            log.warning("skipped %s", error)
            continue
        target = out / Path(relative).with_suffix(".png")
        target.parent.mkdir(parents=True, exist_ok=True)
        # PIL's "L" conversion is ITU-R 601 luma: what a grayscale scan of the print would store.
        (image.convert("L") if grayscale else image).save(target)
        written += 1
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="colorize data export", description=__doc__.splitlines()[0])
    parser.add_argument("split_file", help="a run's split.json")
    parser.add_argument("out_dir")
    parser.add_argument("--subset", choices=("train", "val", "test"), default="test")
    parser.add_argument("--color", action="store_true", help="keep the colors (default: grayscale)")
    args = parser.parse_args(argv)
    count = export_subset(args.split_file, args.out_dir, args.subset, grayscale=not args.color)
    print(f"exported {count} {args.subset} photos to {args.out_dir}")
    return 0
