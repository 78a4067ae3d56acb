"""The photos `make bench` and `make bench-gpu` read: the sample set's if it is built, else synthesized JPEGs.

Synthesized photos are smooth and colourful like downscaled photographs, so decoding, resizing and
Lab conversion cost about what they cost on real ones, and a machine without ``data/sample`` still
runs every benchmark.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from benchmarks.common import REPO, SAMPLE_DIR
from colorize.data.dataset import _to_tensor
from colorize.data.images import PHOTO_FORMATS, find_images, load_rgb


def synthesize_photos(folder: Path, count: int, size: tuple[int, int] = (320, 240)) -> list[Path]:
    """``count`` smooth, colorful ``size`` JPEGs (gradients and discs), like downscaled photos."""
    rng = np.random.default_rng(0)
    width, height = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    paths = []
    for i in range(count):
        freq = rng.uniform(0.005, 0.05, size=(3, 2))
        phase = rng.uniform(0, 6.28, size=3)
        image = np.stack(
            [0.5 + 0.45 * np.sin(fy * y + fx * x + p) for (fy, fx), p in zip(freq, phase, strict=True)], axis=-1
        )
        for _ in range(4):
            cy, cx, r = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(10, 60)
            image[(y - cy) ** 2 + (x - cx) ** 2 < r**2] = rng.uniform(0, 1, size=3)
        path = folder / f"photo_{i:03d}.jpg"
        Image.fromarray((image * 255).round().astype(np.uint8)).save(path, quality=90)
        paths.append(path)
    return paths


def photo_paths(count: int, scratch: Path) -> tuple[list[Path], str]:
    """The first ``count`` photos of data/sample (sorted), or synthesized JPEGs; and where they came from."""
    if SAMPLE_DIR.is_dir():
        found = find_images(SAMPLE_DIR)
        if len(found) >= count:
            return found[:count], f"the first {count} photos of {SAMPLE_DIR.relative_to(REPO)}"
    return synthesize_photos(scratch, count), f"{count} synthesized 320×240 JPEGs"


def photo_of_size(width: int, height: int, scratch: Path) -> torch.Tensor:
    """A uint8 ``(3, height, width)`` photo: a sample photo of exactly that size if there is one."""
    if SAMPLE_DIR.is_dir():
        for path in find_images(SAMPLE_DIR):
            with Image.open(path, formats=PHOTO_FORMATS) as image:
                if image.size == (width, height):
                    return _to_tensor(load_rgb(path))
    image = load_rgb(photo_paths(1, scratch)[0][0]).resize((width, height), Image.Resampling.BICUBIC)
    return _to_tensor(image)
