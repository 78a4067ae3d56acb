"""Train / val / test splits, reproducible from a seed and saved as a JSON manifest.

The rule reproduces the paper's notebook: with numpy's legacy seeding, draw ``draw_size``
photos (20,000 of the COCO sample's 21,837), permute them, take the last ``test_size`` (100)
as the test set and the rest (19,900) for training. The paper had no validation set; ours
comes from the photos that were *not* drawn (1,837 of them), so the training set stays the
paper's. The manifest pins the exact files, so a resumed run and ``colorize test`` see the
same images even if the folder gains photos later.

A second rule tests generalisation rather than interpolation: ``test_sources`` holds out whole
top-level folders (in the sample set, one folder per source package), so the test photos come
from other photographers, cameras and subjects than anything the model trained on.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from colorize.atomic import atomic_open

MANIFEST_VERSION = 1
SUBSETS = ("train", "val", "test")


@dataclass(frozen=True)
class Split:
    """Which photos go where. Paths are POSIX strings relative to ``root``."""

    root: str
    train: list[str]
    val: list[str]
    test: list[str]
    seed: int
    draw_size: int | None = None
    train_size: int | None = None
    val_size: int = 100
    test_size: int = 100
    num_images: int = 0
    """How many photos ``root`` held when the split was made."""
    test_sources: list[str] | None = None
    """Top-level folders held out whole as the test set (None: the paper's random test set)."""
    version: int = field(default=MANIFEST_VERSION)

    def paths(self, subset: str) -> list[Path]:
        """Absolute paths of ``subset`` ("train", "val" or "test")."""
        if subset not in SUBSETS:
            raise ValueError(f"subset must be one of {SUBSETS}, got {subset!r}")
        root = Path(self.root)
        return [root / p for p in getattr(self, subset)]

    def save(self, path: str | os.PathLike) -> None:
        """Write the manifest as JSON, atomically: a crash never leaves half a file behind."""
        with atomic_open(path) as f:
            json.dump(dataclasses.asdict(self), f, indent=1)
            f.write("\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> Split:
        """Read a manifest written by :meth:`save`; errors name the file."""
        path = Path(path).expanduser()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"split manifest not found: {path}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"cannot read split manifest {path}: {err}") from err
        names = {f.name for f in dataclasses.fields(cls)}
        required = {f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING}
        if not isinstance(data, dict) or not required <= data.keys():
            missing = sorted(required - data.keys()) if isinstance(data, dict) else sorted(required)
            raise ValueError(f"split manifest {path} is missing keys {missing}")
        if data.get("version", MANIFEST_VERSION) != MANIFEST_VERSION:
            raise ValueError(f"split manifest {path} has version {data['version']}, expected {MANIFEST_VERSION}")
        for subset in SUBSETS:
            if not isinstance(data[subset], list) or not all(isinstance(p, str) for p in data[subset]):
                raise ValueError(f"split manifest {path}: '{subset}' must be a list of paths")
        return cls(**{k: v for k, v in data.items() if k in names})


def check_split_sizes(
    num_images: int,
    *,
    draw_size: int | None = None,
    train_size: int | None = None,
    val_size: int = 100,
    test_size: int = 100,
    where: str = "the data folder",
) -> None:
    """Raise ``ValueError`` naming the option when the sizes cannot be met by ``num_images`` photos.

    Cheap (no file access), so the CLI can fail before a long run starts.
    """
    for name, value in (("draw_size", draw_size), ("train_size", train_size)):
        if value is not None and value < 0:
            raise ValueError(f"data.{name} must be >= 0 or null, got {value}")
    for name, value in (("val_size", val_size), ("test_size", test_size)):
        if value < 0:
            raise ValueError(f"data.{name} must be >= 0, got {value}")
    draw = num_images if draw_size is None else draw_size
    if draw > num_images:
        raise ValueError(
            f"data.draw_size={draw_size} exceeds the {num_images} images in {where}; "
            f"use a smaller data.draw_size (null draws all of them)"
        )
    if test_size > draw:
        raise ValueError(f"data.test_size={test_size} exceeds the {draw} drawn images (data.draw_size={draw_size})")
    rest = draw - test_size
    leftover = num_images - draw
    if val_size > leftover:
        # Not enough undrawn photos: validation comes out of the drawn, non-test ones.
        if val_size > rest:
            raise ValueError(
                f"data.val_size={val_size} does not fit: {num_images} images in {where}, "
                f"data.draw_size={draw_size} leaves {leftover} undrawn and data.test_size={test_size} "
                f"leaves {rest} drawn"
            )
        rest -= val_size
    if train_size is not None and train_size > rest:
        raise ValueError(
            f"data.train_size={train_size} does not fit: only {rest} images remain for training out of "
            f"{num_images} in {where} (data.draw_size={draw_size}, data.val_size={val_size}, "
            f"data.test_size={test_size}); use a smaller data.train_size (null uses them all)"
        )


def source_of(relative: str) -> str:
    """The top-level folder of a photo path relative to the data root ("" for a photo at the root)."""
    head, sep, _ = relative.partition("/")
    return head if sep else ""


def make_split(
    paths: Sequence[str | os.PathLike],
    root: str | os.PathLike,
    *,
    seed: int = 123,
    draw_size: int | None = None,
    train_size: int | None = None,
    val_size: int = 100,
    test_size: int = 100,
    test_sources: Sequence[str] | None = None,
) -> Split:
    """Split photos under ``root`` by the paper's rule (see the module docstring).

    Args:
        paths: photo files, absolute or relative to ``root``; their order does not matter.
        root: the folder they live in; the split stores paths relative to it.
        seed: seed of ``np.random.RandomState`` (the paper's notebook used 123).
        draw_size: photos drawn for train + test; None draws all.
        train_size: keep only the first ``train_size`` training photos; None keeps all.
        val_size: validation photos, taken from the undrawn ones when there are enough,
            else from the end of the drawn, non-test ones.
        test_size: the last ``test_size`` photos of the permutation.
        test_sources: top-level folders under ``root`` whose photos are all held out as the
            test set; the paper's rule then splits the remaining photos into train and val, and
            ``test_size`` is ignored.

    Raises:
        ValueError: sizes that do not fit, naming the ``data.*`` option and the counts, or a
            ``test_sources`` entry with no photos.
    """
    root_path = Path(root).expanduser().absolute()
    relative = sorted({_relative(p, root_path) for p in paths})
    if test_sources:
        return _split_by_source(
            relative,
            root_path,
            test_sources,
            seed=seed,
            draw_size=draw_size,
            train_size=train_size,
            val_size=val_size,
            test_size=test_size,
        )
    n = len(relative)
    check_split_sizes(
        n, draw_size=draw_size, train_size=train_size, val_size=val_size, test_size=test_size, where=str(root_path)
    )
    rng = np.random.RandomState(seed)
    draw = n if draw_size is None else draw_size
    chosen = rng.choice(n, draw, replace=False)
    perm = rng.permutation(draw)
    test = chosen[perm[draw - test_size :]]
    rest = chosen[perm[: draw - test_size]]
    leftover = np.setdiff1d(np.arange(n), chosen)  # sorted
    if val_size == 0:
        val = rest[:0]
    elif len(leftover) >= val_size:
        val = leftover[:val_size]
    else:
        val, rest = rest[-val_size:], rest[:-val_size]
    train = rest if train_size is None else rest[:train_size]
    return Split(
        root=str(root_path.resolve()),
        train=[relative[i] for i in train],
        val=[relative[i] for i in val],
        test=[relative[i] for i in test],
        seed=seed,
        draw_size=draw_size,
        train_size=train_size,
        val_size=val_size,
        test_size=test_size,
        num_images=n,
    )


def _split_by_source(
    relative: list[str],
    root: Path,
    test_sources: Sequence[str],
    *,
    seed: int,
    draw_size: int | None,
    train_size: int | None,
    val_size: int,
    test_size: int,
) -> Split:
    held_out = sorted(set(test_sources))
    present = sorted({source_of(p) for p in relative})
    absent = [s for s in held_out if s not in present]
    if absent:
        raise ValueError(
            f"data.test_sources: no photos in folder(s) {absent} of {root}; its top-level folders are {present}"
        )
    test = [p for p in relative if source_of(p) in held_out]
    rest = [p for p in relative if source_of(p) not in held_out]
    if not rest:
        raise ValueError(f"data.test_sources={held_out} holds out every photo of {root}: nothing is left to train on")
    # The remaining photos get the paper's rule with no test set of their own: train, then val.
    inner = make_split(
        rest, root, seed=seed, draw_size=draw_size, train_size=train_size, val_size=val_size, test_size=0
    )
    # test_size stays the option as given (unused here), so a manifest check compares like with like.
    return dataclasses.replace(inner, test=test, test_size=test_size, num_images=len(relative), test_sources=held_out)


def _relative(path: str | os.PathLike, root: Path) -> str:
    path = Path(path).expanduser()
    if not path.is_absolute():
        return path.as_posix()
    # Cheap lexical checks first: resolving 20,000 paths costs syscalls, and a symlinked photo
    # inside root would resolve to somewhere outside it.
    for base in (root, root.resolve()):
        if path.is_relative_to(base):
            return path.relative_to(base).as_posix()
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        raise ValueError(f"image {path} is not inside the data folder {root}") from None
