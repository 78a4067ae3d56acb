"""Write colorized photographs as PNG (or TIFF) files named after their inputs.

``colorize predict`` runs Lightning's predict loop over a folder of photos; this callback
saves each prediction as it arrives (per batch, so memory does not grow with the number of
photos) as ``<output_dir>/<path relative to input_root, suffix replaced>.png`` (``.tiff`` with
``output_format="tiff"``). A prediction that is a
:class:`~colorize.inference.full_resolution.ColorizedPhoto` is streamed to the file strip by
strip, at the input's bit depth (8 or 16) with its dpi and ICC profile (see ``docs/scans.md``).

Names (:func:`output_names`), decided for the whole input list before the first photo is
written, so they never depend on the order photos arrive in:

- ``trip/cat.jpg`` -> ``trip/cat.png``: subfolders kept, the suffix replaced by ``.png``;
- inputs of one folder that share a stem, ignoring letter case (``IMG_001.JPG`` beside
  ``IMG_001.png``), each keep their whole name: ``IMG_001.JPG.png`` and ``IMG_001.png.png``;
- should a name still be taken (an input literally called ``IMG_001.JPG.png`` as well), the
  later input in sorted order gets ``-2``, ``-3``, ... before ``.png``.

Why the refusals: outputs share the input's name and a PNG input would share its suffix,
so writing into the input folder could silently replace an original photo, and would feed
the outputs back in as inputs on the next run. Outputs therefore never go inside the input
folder. And an output folder may already hold files (``--input ~/photos/bw --output
~/photos`` names ``~/photos/cat.png``): a run never replaces a file it did not write itself,
so every planned output that already exists is refused up front, in one line, unless
``overwrite`` (``colorize predict --overwrite``) says so.

A symlinked photo inside the input folder is named by where it lies, not where it points, so
it is colorized like any file; an input that is nowhere inside the folder is skipped by name.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from lightning.pytorch.callbacks import BasePredictionWriter

from colorize.inference.full_resolution import ColorizedPhoto
from colorize.inference.image_files import save_image_png, write_png_strips, write_tiff_strips

__all__ = ["OUTPUT_FORMATS", "ColorizedPhotoWriter", "OutsideInputFolder", "existing_outputs", "output_names"]

#: ``output_format`` -> the suffix of the files written.
OUTPUT_FORMATS = {"png": ".png", "tiff": ".tiff"}

log = logging.getLogger(__name__)


def _is_within(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies below it (both already resolved)."""
    return path == folder or folder in path.parents


def _refuse_inside(output_dir: Path, input_dir: Path) -> None:
    if _is_within(output_dir, input_dir):
        where = "is" if output_dir == input_dir else "is inside"
        raise ValueError(
            f"output_dir {str(output_dir)!r} {where} the input folder {str(input_dir)!r}: colorized photos "
            "are named after their inputs and could overwrite them; choose an output folder outside it"
        )


def output_names(inputs: Sequence[str | os.PathLike], suffix: str = ".png") -> dict[Path, Path]:
    """``{input: output}`` for relative input paths, every output distinct (see the module docstring).

    Outputs are compared ignoring letter case, so they stay distinct on case-insensitive disks.
    """
    paths = sorted({Path(p) for p in inputs}, key=lambda p: p.as_posix())
    stems: dict[tuple[Path, str], int] = {}
    for path in paths:
        key = (path.parent, path.stem.casefold())
        stems[key] = stems.get(key, 0) + 1
    names: dict[Path, Path] = {}
    taken: set[str] = set()
    for path in paths:
        shared = stems[(path.parent, path.stem.casefold())] > 1
        base = path.name if shared else path.stem
        target, count = path.parent / f"{base}{suffix}", 1
        while target.as_posix().casefold() in taken:
            count += 1
            target = path.parent / f"{base}-{count}{suffix}"
        taken.add(target.as_posix().casefold())
        names[path] = target
    return names


class OutsideInputFolder(ValueError):
    """An input that lies nowhere inside the input folder: skipped by name, never the end of the run."""


def existing_outputs(targets: Sequence[Path], limit: int = 3) -> str | None:
    """A one-line list of the ``targets`` that already exist (at most ``limit`` named), or None."""
    found = [t for t in targets if os.path.lexists(t)]
    if not found:
        return None
    shown = ", ".join(str(t) for t in found[:limit])
    more = f" and {len(found) - limit} more" if len(found) > limit else ""
    return f"{len(found)} output(s) already exist: {shown}{more}"


class ColorizedPhotoWriter(BasePredictionWriter):
    """Save every predicted photo to ``output_dir`` as PNG, keeping the input's name.

    Args:
        output_dir: where the PNG files go (created as needed). Must not be, or lie inside,
            the input folder. May be set after construction, but before predicting.
        input_root: the folder the inputs were collected from. Given, each output keeps the
            input's path relative to it (``root/a/b.jpg`` -> ``output_dir/a/b.png``);
            ``None`` keeps only the file name (``output_dir/b.png``) and checks each input's
            own folder instead. A file stands for the folder holding it.
        overwrite: replace outputs that exist before the run; without it, they are refused up
            front (:meth:`refuse_existing`) and nothing is written.
        output_format: ``png`` or ``tiff`` (Deflate-compressed strips). Either keeps a 16-bit
            input's 16 bits, its dpi and its ICC profile.

    Expects ``predict_step`` to return ``{"image": ColorizedPhoto or uint8 (3, H, W), "path": str}``; a
    collated ``{"image": (B, 3, H, W), "path": [str] * B}`` or a list of per-image dicts
    works too.
    """

    def __init__(
        self,
        output_dir: str | None = None,
        input_root: str | None = None,
        overwrite: bool = False,
        output_format: Literal["png", "tiff"] = "png",
    ) -> None:
        super().__init__(write_interval="batch")
        if output_format not in OUTPUT_FORMATS:
            raise ValueError(f"prediction.output_format must be one of {sorted(OUTPUT_FORMATS)}, got {output_format!r}")
        self.output_format = output_format
        self.suffix = OUTPUT_FORMATS[output_format]
        root = Path(input_root).resolve() if input_root is not None else None
        # `colorize predict photo.jpg`: the root is the folder holding that one photo.
        self.input_root = root.parent if root is not None and root.is_file() else root
        # The root as given, symlinks kept: the inputs found under it are named through it.
        given = Path(os.path.abspath(Path(input_root).expanduser())) if input_root is not None else None
        self._given_root = given.parent if given is not None and root is not None and root.is_file() else given
        self.overwrite = overwrite
        self.output_dir = output_dir
        self._written: dict[Path, str] = {}
        self._names: dict[Path, Path] = {}  # relative input -> relative output, for the whole run

    @property
    def output_dir(self) -> Path | None:
        """Resolved output folder; ``None`` until set (the CLI defaults it to the run's ``predictions/``)."""
        return self._output_dir

    @output_dir.setter
    def output_dir(self, value: str | os.PathLike | None) -> None:
        # Checked on every assignment, so a folder set after construction fails as early.
        self._output_dir = Path(value).resolve() if value is not None else None
        if self._output_dir is not None and self.input_root is not None:
            _refuse_inside(self._output_dir, self.input_root)

    def _relative(self, input_path: str | os.PathLike) -> Path | None:
        """``input_path`` relative to the input folder, by where it lies (symlinks not followed); None if outside."""
        lying = Path(os.path.abspath(Path(input_path).expanduser()))
        # Its folder resolved, not the file: a symlinked photo stays where it lies.
        candidates = (lying, lying.parent.resolve() / lying.name)
        for root in dict.fromkeys(r for r in (self._given_root, self.input_root) if r is not None):
            for path in candidates:
                if _is_within(path, root) and path != root:
                    return path.relative_to(root)
        return None

    def output_path(self, input_path: str) -> Path:
        """The PNG file that ``input_path``'s colorized version is written to.

        Raises:
            OutsideInputFolder: (a ValueError) if the input lies outside ``input_root``.
            ValueError: if the output would lie in the input's folder, or be the input itself.
        """
        if self.output_dir is None:
            raise ValueError("ColorizedPhotoWriter.output_dir is not set")
        source = Path(input_path).resolve()
        if self.input_root is not None:
            relative = self._relative(input_path)
            if relative is None:
                raise OutsideInputFolder(f"input {input_path!r} is not inside input_root {str(self.input_root)!r}")
        else:
            lying = Path(os.path.abspath(Path(input_path).expanduser()))
            _refuse_inside(self.output_dir, lying.parent.resolve())
            relative = Path(lying.name)
        target = self.output_dir / self._names.get(relative, relative.with_suffix(self.suffix))
        # Belt and braces: whatever the folders, the input file itself is never the target.
        if target.resolve() == source:
            raise ValueError(f"output {str(target)!r} would overwrite its input {input_path!r}")
        return target

    def plan(self, inputs: Sequence[str | os.PathLike]) -> None:
        """Decide every output name from the whole list of inputs (the predict loop does this first)."""
        relative = []
        for path in inputs:
            if self.input_root is None:
                relative.append(Path(Path(os.path.abspath(Path(path).expanduser())).name))
            elif (inside := self._relative(path)) is not None:
                relative.append(inside)
        self._names = output_names(relative, self.suffix)

    def refuse_existing(self, inputs: Sequence[str | os.PathLike]) -> None:
        """Plan ``inputs`` and refuse, before anything is written, outputs that exist already (unless ``overwrite``).

        Raises:
            FileExistsError: one line naming the files and the way out (``--overwrite``).
        """
        self.plan(inputs)
        if self.overwrite:
            return
        targets = []
        for path in inputs:
            try:
                targets.append(self.output_path(os.fspath(path)))
            except OutsideInputFolder:
                continue  # skipped by name when its turn comes
        found = existing_outputs(targets)
        if found:
            raise FileExistsError(f"{found}; predict never replaces them: pass --overwrite, or another --output")

    def on_predict_start(self, trainer: Any, pl_module: Any) -> None:
        if self.output_dir is None:
            raise ValueError("ColorizedPhotoWriter.output_dir is not set: where should the photos go?")
        self._written = {}
        loaders = getattr(trainer, "predict_dataloaders", None)
        loaders = loaders if isinstance(loaders, (list, tuple)) else [loaders] if loaders is not None else []
        self.refuse_existing([p for loader in loaders for p in getattr(getattr(loader, "dataset", None), "paths", [])])

    def write_on_batch_end(
        self,
        trainer: Any,
        pl_module: Any,
        prediction: Any,
        batch_indices: Sequence[int] | None,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        for image, path in _items(prediction):
            try:
                target = self.output_path(path)
            except OutsideInputFolder as err:
                log.warning("skipping %s: %s", path, err)  # one odd input never stops the run
                continue
            if target in self._written:
                # Not planned (the writer used outside the predict loop): never overwrite, never refuse.
                name, count = Path(path).name, 1
                target = target.with_name(f"{name}{self.suffix}")
                while target in self._written:
                    count += 1
                    target = target.with_name(f"{name}-{count}{self.suffix}")
            self._save(image, target)
            self._written[target] = path

    def _save(self, image: torch.Tensor | ColorizedPhoto, target: Path) -> None:
        if isinstance(image, torch.Tensor) and self.output_format == "png":
            save_image_png(image, target)
            return
        if isinstance(image, torch.Tensor):
            image = _InMemory(image)
        write = write_png_strips if self.output_format == "png" else write_tiff_strips
        options = {"rows": image.rows} if self.output_format == "tiff" else {}
        write(
            target,
            image.levels(),
            height=image.height,
            width=image.width,
            bits=image.bits,
            dpi=image.dpi,
            icc_profile=image.icc_profile,
            **options,
        )

    def on_predict_end(self, trainer: Any, pl_module: Any) -> None:
        log.info("wrote %d colorized photo(s) to %s", len(self._written), self.output_dir)

    @property
    def num_written(self) -> int:
        """How many photos this predict run has written so far."""
        return len(self._written)


def _items(prediction: Any) -> Iterator[tuple[torch.Tensor, str]]:
    """``(uint8 (3, H, W), path)`` pairs from one batch's prediction, whatever its collation."""
    if isinstance(prediction, (list, tuple)):
        for item in prediction:
            yield from _items(item)
        return
    if not isinstance(prediction, dict) or "image" not in prediction or "path" not in prediction:
        raise TypeError(f"prediction must be a dict with 'image' and 'path', got {type(prediction).__name__}")
    image, path = prediction["image"], prediction["path"]
    if isinstance(path, (str, os.PathLike)):
        single = isinstance(image, torch.Tensor) and image.ndim == 4 and len(image) == 1
        yield (image[0] if single else image), os.fspath(path)
        return
    if image.ndim != 4 or len(image) != len(path):
        raise ValueError(f"{len(path)} paths do not match images of shape {tuple(image.shape)}")
    yield from zip(image, (os.fspath(p) for p in path), strict=True)


class _InMemory:
    """A uint8 ``(3, H, W)`` tensor seen as one band, for the streaming writers (TIFF of a tensor)."""

    bits, dpi, icc_profile = 8, None, None

    def __init__(self, image: torch.Tensor) -> None:
        if image.ndim != 3 or image.shape[0] != 3 or image.dtype != torch.uint8:
            raise ValueError(f"image must be uint8 (3, H, W), got {image.dtype} {tuple(image.shape)}")
        self.image = image
        self.height, self.width = int(image.shape[1]), int(image.shape[2])
        self.rows = self.height

    def levels(self) -> Iterator:
        yield self.image.permute(1, 2, 0).cpu().numpy()
