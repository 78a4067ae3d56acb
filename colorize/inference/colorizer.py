"""A trained colorizer in one object, from a checkpoint or a generator export, with no config at hand.

    from colorize.inference.colorizer import load_colorizer
    colorizer = load_colorizer("runs/advanced/checkpoints/last.ckpt")   # or "advanced.safetensors"
    rgb = colorizer.colorize(photo)        # uint8 (3, H, W) in, uint8 (3, H, W) out, full resolution

Both files describe themselves: a checkpoint written by ``colorize fit`` holds the class
path and init args of its generator and the datamodule's image size; an export
(:mod:`colorize.inference.export`) holds them in its JSON header. Only colorize's own classes
(:mod:`colorize.inference.trust`) are built from either, checked before anything is imported.

Prefer the export for files from elsewhere: a checkpoint is read with
``torch.load(weights_only=True)``, which refuses arbitrary objects (as does
``ColorizationGAN.load_from_checkpoint``, after the same class check), but it is still a
pickle, which any other reader may unpickle fully.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from colorize.inference.export import build_module, is_export, read_export, write_export
from colorize.inference.trust import check_model_hparams, check_plain
from colorize.models.mirror_average import colorizing_network

if TYPE_CHECKING:
    from colorize.inference.hints import Hint

__all__ = [
    "Colorizer",
    "checkpoint_summary",
    "check_checkpoint",
    "export_checkpoint",
    "export_colorizer",
    "load_colorizer",
    "read_checkpoint",
]

log = logging.getLogger(__name__)

#: The training size assumed for a checkpoint that does not say (the paper's).
DEFAULT_IMAGE_SIZE = 256
GENERATOR_PREFIX = "generator."
AVERAGE_PREFIX = "generator_ema.average."


@dataclass
class Colorizer:
    """A generator ready to colorize photos at their own resolution.

    Attributes:
        generator: the network, in eval mode.
        image_size: the side it was trained at; photos are colorized at about this size and
            the colour upsampled (see :mod:`colorize.inference.full_resolution`).
        name: the run's name (its folder), or the export's.
        source: the file it was loaded from.
        info: ``epoch``, ``step`` (optimizer steps, 2 per batch), ``generator`` (class path),
            ``encoder`` (its ``encoder`` init arg, or None) and, when the run's
            ``results.json`` was found, ``results``: ``{"model": row, "all-gray": row,
            "checkpoint": the checkpoint those numbers were measured with}``.
        spec: the generator's ``{"class_path", "init_args"}``, what an export stores to rebuild it.
        mirror_average: whether it colorizes each photo and its mirror image and averages them
            (the run's ``model.mirror_average``); :attr:`network` is the generator wrapped that way.
    """

    generator: nn.Module
    image_size: int
    name: str
    source: Path
    info: dict[str, Any] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict)
    mirror_average: bool = False

    @property
    def network(self) -> nn.Module:
        """What colorizes: the generator, mirror-averaged if the run did so (no weights of its own)."""
        return colorizing_network(self.generator, self.mirror_average)

    @property
    def device(self) -> torch.device:
        return next(self.generator.parameters()).device

    @property
    def takes_hints(self) -> bool:
        """Whether the model was trained with colour hints (:mod:`colorize.inference.hints`)."""
        return bool(getattr(self.generator, "takes_hints", False))

    def colorize(self, rgb: torch.Tensor, hints: Sequence[Hint] | Sequence[Mapping] | None = None) -> torch.Tensor:
        r"""``(3, H, W)`` (or ``(1, H, W)``) uint8 photo -> ``(3, H, W)`` uint8 sRGB on the CPU, same size.

        Only the photo's lightness is used; its own colour, if any, is never seen. The path of
        ``colorize predict`` (:func:`colorize.inference.full_resolution.colorize_images`, here of one
        photo, the generator in bf16 autocast on the CPU and CUDA), so the app shows what a predict
        run writes, up to float rounding of the batched passes.

        ``hints``: colour hints in the photo's pixels, as :class:`~colorize.inference.hints.Hint`\ s
        or as the hints file's objects (``{"x", "y", "color" | "ab", "size"}``, checked against the
        photo's size); only for a model that takes hints (:attr:`takes_hints`), else ``ValueError``.
        """
        from colorize.inference.full_resolution import colorize_image
        from colorize.inference.hints import Hint, parse_hints

        if hints is not None and not all(isinstance(h, Hint) for h in hints):
            hints = parse_hints(list(hints), "hints", (rgb.shape[-1], rgb.shape[-2]))
        if hints and not self.takes_hints:
            raise ValueError(f"{self.name} was trained without hints: it cannot take them")
        return colorize_image(self.network, rgb, target_size=self.image_size, hints=hints).cpu()


def _load_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint's dict, read without executing pickled code (``weights_only``)."""
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        try:  # mmap: reading a 200 MB checkpoint for one network should not copy all of it
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle, zip and torch errors alike
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{path} is not a readable Lightning checkpoint: {first}") from None


def _run_folder(path: Path) -> Path | None:
    """``runs/x`` for ``runs/x/checkpoints/last.ckpt``; None for a checkpoint lying elsewhere."""
    return path.parent.parent if path.parent.name == "checkpoints" else None


def _results_info(run: Path | None, name: str) -> dict[str, Any] | None:
    """The model and all-gray rows of the run's ``results.json``, when there is one."""
    if run is None or not (run / "results.json").is_file():
        return None
    from colorize.results import GRAY_ROW, ResultsTable

    try:
        table = ResultsTable.load_json(run / "results.json")
    except ValueError as err:
        log.warning("%s", err)
        return None
    model = table.rows.get(name) or next((r for n, r in table.rows.items() if n != GRAY_ROW), None)
    return {"model": model, GRAY_ROW: table.rows.get(GRAY_ROW), "checkpoint": table.metadata.get("checkpoint")}


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """What a ``colorize fit`` checkpoint says about itself, without building anything.

    Returns:
        ``{"generator": spec, "model": model hparams, "data": datamodule hparams, "epoch",
        "step", "state_dict"}``; ``generator`` is ``{"class_path", "init_args"}`` or None
        for a checkpoint written outside the CLI.

    Raises:
        FileNotFoundError, ValueError: naming the file.
    """
    path = Path(path)
    checkpoint = _load_checkpoint(path)
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ValueError(f"{path} is not a Lightning checkpoint (no state_dict)")
    _check_described(checkpoint, path)
    model = {k: v for k, v in (checkpoint.get("hyper_parameters") or {}).items() if not k.startswith("_")}
    data = {k: v for k, v in (checkpoint.get("datamodule_hyper_parameters") or {}).items() if not k.startswith("_")}
    spec = model.get("generator")
    return {
        "generator": spec if isinstance(spec, dict) and "class_path" in spec else None,
        "model": model,
        "data": data,
        "epoch": checkpoint.get("epoch"),
        "step": checkpoint.get("global_step"),
        "state_dict": checkpoint["state_dict"],
    }


def _check_described(checkpoint: dict[str, Any], path: Path) -> None:
    """Refuse a checkpoint whose hyperparameters name anything but colorize's classes (see trust)."""
    where = f"checkpoint {path}"
    check_model_hparams(checkpoint.get("hyper_parameters") or {}, where)
    data = checkpoint.get("datamodule_hyper_parameters") or {}
    if not isinstance(data, dict):
        raise ValueError(f"{where}: refusing datamodule_hyper_parameters of type {type(data).__name__}")
    for key, value in data.items():
        check_plain(value, where, f"data.{key}")


def check_checkpoint(path: str | os.PathLike) -> None:
    """Refuse, before anything parses it, a checkpoint that names anything but colorize's classes.

    What LightningCLI (``--ckpt_path``) and ``load_from_checkpoint`` would import and build from
    its hyperparameters is checked here on the ``weights_only`` read.

    Raises:
        FileNotFoundError, ValueError: one line naming the file (and the refused value).
    """
    path = Path(path)
    checkpoint = _load_checkpoint(path)
    if not isinstance(checkpoint, dict):
        raise ValueError(f"{path} is not a Lightning checkpoint")
    _check_described(checkpoint, path)


def checkpoint_summary(path: str | os.PathLike) -> dict[str, Any]:
    """``{"path", "epoch", "step"}`` of a checkpoint or an export (None where it does not say)."""
    path = Path(path)
    if is_export(path):
        from colorize.inference.export import read_export_config

        config = read_export_config(path)
        return {"path": str(path), "epoch": config.get("epoch"), "step": config.get("step")}
    checkpoint = _load_checkpoint(path)
    return {"path": str(path), "epoch": checkpoint.get("epoch"), "step": checkpoint.get("global_step")}


def _from_checkpoint(path: Path) -> Colorizer:
    described = read_checkpoint(path)
    where = f"checkpoint {path}"
    if described["generator"] is None:
        raise ValueError(
            f"{where} does not say which generator it holds (it was not written by `colorize fit`); "
            "rebuild the generator yourself and load the 'generator.*' weights of its state_dict"
        )
    generator = build_module(described["generator"], where)
    state_dict = described["state_dict"]
    # A run that kept a weight average colorizes with it (what its own test and predict used).
    prefix = AVERAGE_PREFIX if any(k.startswith(AVERAGE_PREFIX) for k in state_dict) else GENERATOR_PREFIX
    weights = {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
    try:
        generator.load_state_dict(weights, strict=True)
    except RuntimeError as err:
        class_path = described["generator"]["class_path"]
        raise ValueError(f"{where}: its generator weights do not fit {class_path}: {err}") from None
    image_size = described["data"].get("image_size")
    if not isinstance(image_size, int):
        log.warning("%s does not say its training image size; assuming %d px", where, DEFAULT_IMAGE_SIZE)
        image_size = DEFAULT_IMAGE_SIZE
    run = _run_folder(path)
    name = run.resolve().name if run is not None else path.stem
    info = _describe(described["generator"], described["epoch"], described["step"])
    results = _results_info(run, name)
    if results is not None:
        info["results"] = results
    mirror = bool(described["model"].get("mirror_average", False))
    return Colorizer(generator.eval(), image_size, name, path, info, described["generator"], mirror)


def _describe(spec: dict[str, Any], epoch: int | None, step: int | None) -> dict[str, Any]:
    init_args = spec.get("init_args") or {}
    return {"epoch": epoch, "step": step, "generator": spec["class_path"], "encoder": init_args.get("encoder")}


def _from_export(path: Path, device: str | torch.device) -> Colorizer:
    generator, config = read_export(path, device)
    info = _describe(config["generator"], config.get("epoch"), config.get("step"))
    if config.get("results"):
        info["results"] = config["results"]
    info["exported_from"] = config.get("source")
    image_size = config.get("image_size")
    if not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"generator export {path}: image_size must be a positive int, got {image_size!r}")
    name, mirror = str(config.get("name") or path.stem), bool(config.get("mirror_average", False))
    return Colorizer(generator, image_size, name, path, info, config["generator"], mirror)


def load_colorizer(path: str | os.PathLike, device: str | torch.device = "cpu") -> Colorizer:
    """Load a colorizer from a ``colorize fit`` checkpoint (``.ckpt``) or a generator export (``.safetensors``).

    Raises:
        FileNotFoundError: naming ``path`` if it does not exist.
        ValueError: naming ``path`` if it is neither, names anything but colorize's own classes,
            or its weights do not fit (or, for an export, do not match their digest).
    """
    path = Path(path).expanduser()
    if is_export(path):
        return _from_export(path, device)
    colorizer = _from_checkpoint(path)
    colorizer.generator.to(device)
    return colorizer


def export_colorizer(colorizer: Colorizer, path: str | os.PathLike) -> Path:
    """Write ``colorizer`` as a generator export (weights, spec, image size, provenance, results)."""
    config = {
        "generator": colorizer.spec,
        "image_size": colorizer.image_size,
        "name": colorizer.name,
        "source": str(colorizer.source),
        "epoch": colorizer.info.get("epoch"),
        "step": colorizer.info.get("step"),
        "results": colorizer.info.get("results"),
        "mirror_average": colorizer.mirror_average,
    }
    from colorize import __version__

    config["colorize_version"] = __version__
    return write_export(path, colorizer.generator, config)


def export_checkpoint(checkpoint: str | os.PathLike, output: str | os.PathLike | None = None) -> Path:
    """``colorize export``: a checkpoint's generator as ``output`` (default: beside it, ``<run>.safetensors``)."""
    checkpoint = Path(checkpoint).expanduser()
    colorizer = _from_checkpoint(checkpoint)
    if output is None:
        output = checkpoint.with_name(f"{colorizer.name}.safetensors")
    return export_colorizer(colorizer, output)


def main(argv: list[str] | None = None) -> int:
    """``colorize export CHECKPOINT [OUTPUT]``: write a checkpoint's generator as a safetensors export."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="colorize export",
        description="Write the generator of a `colorize fit` checkpoint as safetensors weights + a JSON config: "
        "a file to share, that loads without running code (a .ckpt is a pickle).",
    )
    parser.add_argument("checkpoint", help="a .ckpt written by `colorize fit`")
    parser.add_argument("output", nargs="?", help="the .safetensors file (default: <run name>.safetensors beside it)")
    args = parser.parse_args(argv)
    if args.output is not None and not is_export(args.output):
        parser.error(f"the output must end in .safetensors, got {args.output}")
    try:
        written = export_checkpoint(args.checkpoint, args.output)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    size = written.stat().st_size / 2**20
    source = Path(args.checkpoint).stat().st_size / 2**20
    sys.stdout.write(f"wrote {written} ({size:.1f} MiB; the checkpoint is {source:.1f} MiB)\n")
    return 0
