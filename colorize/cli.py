"""The ``colorize`` command: ``fit | validate | test | predict`` (LightningCLI) plus two helpers.

    colorize fit --config advanced.yaml                 # a bare name finds the shipped configs/
    colorize fit --config vanilla.yaml --config tiny.yaml   # overlays stack left to right
    colorize test --config advanced.yaml                # default checkpoint: the run's last (the paper's)
    colorize predict --config advanced.yaml --input old_photos/ --output colorized/
    colorize predict --ckpt_path runs/advanced/checkpoints/last.ckpt --input old/ --output new/   # no config
    colorize predict ... --overwrite                    # replace outputs that exist (refused otherwise)
    colorize export runs/advanced/checkpoints/last.ckpt advanced.safetensors   # generator only, no pickle
    colorize data sample data/sample                    # the offline sample photo set
    colorize compare runs/vanilla runs/advanced         # the paper's table from several runs
    colorize serve                                      # a local web page that colorizes photos

Everything heavy (timm, the datasets, wandb) loads only when a subcommand needs it, so
``colorize --help`` answers about as fast as ``import lightning``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from pathlib import Path

from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from colorize.data.datamodule import ColorizationDataModule
from colorize.data.videos import is_video_path
from colorize.evaluation.report import EvaluationReport
from colorize.inference.video_writer import ColorizedVideoWriter
from colorize.inference.writer import ColorizedPhotoWriter
from colorize.models.bf16 import BF16_PRECISIONS, cpu_has_native_bf16
from colorize.training.callbacks import BalancedAccuracyMonitor, ValidationSamples
from colorize.training.checkpointing import AtomicCheckpointIO, LastCheckpoint, MidEpochCheckpoint
from colorize.training.loggers import ColorizeWandbLogger
from colorize.training.module import ColorizationGAN

log = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
# Not the paper's pixel accuracy, which rewards gray output: see colorize.training.callbacks.BalancedAccuracyMonitor.
MONITOR = "val/balanced_acc@5%"
SUBCOMMANDS = ("fit", "validate", "test", "predict")
PLACEHOLDER_DISCRIMINATOR = "colorize.models.patchgan.PatchGAN"
#: What a checkpoint brings to ``test``/``predict`` of its model's options: its networks, and what decides
#: how it colorizes (its weight average is in the state dict, which only loads into a model that keeps one).
CHECKPOINT_MODEL_OPTIONS = ("generator", "discriminator", "ema_decay", "mirror_average")
# Shortcuts for the flags a user types most, translated before jsonargparse sees them.
PREDICT_SHORTCUTS = {
    "--input": "--data.predict_path",
    "--output": "--prediction.output_dir",
    "--output_format": "--prediction.output_format",
}


def resolve_config_path(value: str) -> str:
    """A ``--config`` that is not a file where the user stands falls back to the shipped ``configs/``.

    So ``colorize fit --config advanced.yaml`` (or ``configs/advanced.yaml``, or ``advanced``)
    works from any folder. Inline YAML and existing paths are passed through untouched.
    """
    path = Path(value)
    if path.exists() or "\n" in value or ":" in value:
        return value
    for candidate in (CONFIG_DIR / path, CONFIG_DIR / path.name, CONFIG_DIR / f"{path.name}.yaml"):
        if candidate.is_file():
            return str(candidate)
    return value


def _option(argv: list[str], name: str) -> str | None:
    """The last value given to ``name`` (``--name=value`` or ``--name value``), or None."""
    value = None
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(f"{name}="):
            value = arg.partition("=")[2]
    return value


def _without_option(argv: list[str], name: str) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == name:
            skip = True
        elif not arg.startswith(f"{name}="):
            out.append(arg)
    return out


def _default_run_dir(checkpoint: Path) -> Path:
    """``runs/x`` for ``runs/x/checkpoints/*.ckpt``; ``runs/<file name>`` for a file lying anywhere else."""
    if checkpoint.parent.name == "checkpoints":
        return checkpoint.parent.parent
    return Path("runs") / checkpoint.stem


def standalone_arguments(argv: list[str]) -> list[str]:
    """Let a checkpoint or a generator export stand in for the configs that made it.

    For ``validate``/``test``/``predict`` with ``--ckpt_path FILE``, what the file says about
    itself (networks with their init args, the datamodule's options, its run folder) is
    inserted right after the subcommand, so any ``--config`` or option the user gives still
    wins. An export (``.safetensors``) has no Lightning state to resume: it becomes
    ``--generator_export FILE``, its generator's class path and image size go in, and a
    placeholder discriminator (never run) completes the model.
    """
    position = next((i for i, arg in enumerate(argv) if arg in SUBCOMMANDS), None)
    if position is None or argv[position] == "fit":
        return argv
    value = _option(argv, "--ckpt_path")
    path = Path(value).expanduser() if value else None
    if path is None or not path.is_file():
        return argv
    from colorize.inference.colorizer import read_checkpoint
    from colorize.inference.export import check_trusted, is_export, read_export_config
    from colorize.inference.trust import offline_spec

    try:
        if is_export(path):
            config = read_export_config(path)
            # Checked before jsonargparse sees it: parsing a class path imports it.
            check_trusted(config.get("generator"), f"generator export {path}")
            generator = offline_spec(config.get("generator"), f"generator export {path}")
            model = {"generator": generator, "discriminator": {"class_path": PLACEHOLDER_DISCRIMINATOR}}
            data = {"image_size": config.get("image_size")}
            argv = [*_without_option(argv, "--ckpt_path"), f"--generator_export={path}"]
        else:
            described = read_checkpoint(path)  # refuses specs naming anything but colorize's classes
            if described["generator"] is None:
                return argv  # a checkpoint made outside the CLI: its configs must be given
            model = {k: v for k, v in described["model"].items() if k in CHECKPOINT_MODEL_OPTIONS}
            model = {
                k: offline_spec(v, f"checkpoint {path}") if k in ("generator", "discriminator") else v
                for k, v in model.items()
            }
            data = {k: v for k, v in described["data"].items() if k != "predict_path"}
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f"colorize {argv[position]}: {error}") from None
    injected = [f"--model={json.dumps(model)}", f"--data={json.dumps(data)}"]
    if _option(argv, "--trainer.default_root_dir") is None:
        injected.append(f"--trainer.default_root_dir={_default_run_dir(path)}")
    return [*argv[: position + 1], *injected, *argv[position + 1 :]]


def rewrite_arguments(argv: list[str]) -> list[str]:
    """Resolve bare ``--config`` names, expand the predict shortcuts, let a checkpoint stand for its configs."""
    return standalone_arguments(_rewrite_names(argv))


def _shortcuts(argv: list[str]) -> dict[str, str]:
    """:data:`PREDICT_SHORTCUTS`, where ``--output`` names the colorized film when a film goes in and one comes out."""
    source = _option(argv, "--input") or _option(argv, "--data.predict_path")
    output = _option(argv, "--output")
    if source and output and is_video_path(source) and is_video_path(output):
        return {**PREDICT_SHORTCUTS, "--output": "--video.output"}
    return PREDICT_SHORTCUTS


def _rewrite_names(argv: list[str]) -> list[str]:
    out: list[str] = []
    shortcuts = _shortcuts(argv)
    it = iter(argv)
    for arg in it:
        name, eq, value = arg.partition("=")
        if arg == "--overwrite":  # a flag: predict may replace outputs that exist before the run
            out.append("--prediction.overwrite=true")
            continue
        if name in shortcuts:
            name = shortcuts[name]
            arg = f"{name}={value}" if eq else name
        if name in ("--config", "-c"):
            if eq:
                out.append(f"{name}={resolve_config_path(value)}")
            else:
                out.append(name)
                following = next(it, None)
                if following is not None:
                    out.append(resolve_config_path(following))
            continue
        out.append(arg)
    return out


class ColorizeCLI(LightningCLI):
    """LightningCLI with the project's defaults, early validation and run-folder layout.

    A run folder (``trainer.default_root_dir``, e.g. ``runs/advanced``) holds everything of
    one experiment: ``checkpoints/{best,last}.ckpt``, ``split.json``, ``samples/``,
    ``results.json``, ``predictions/``, ``wandb/`` and ``wandb_run_id`` (fit, test and
    predict of one folder log into one W&B run).
    """

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                "checkpoint.monitor": MONITOR,
                "checkpoint.mode": "max",
                "checkpoint.filename": "best",
                "checkpoint.save_top_k": 1,
                # last.ckpt is LastCheckpoint's (every epoch); Lightning's save_last writes it only with a new best.
                "checkpoint.save_last": False,
                "checkpoint.auto_insert_metric_name": False,
                # One best.ckpt per run: overwrite, never add "-v1" copies on resume.
                "checkpoint.enable_version_counter": False,
            }
        )
        parser.add_lightning_class_args(BalancedAccuracyMonitor, "balanced_accuracy")
        parser.add_argument(
            "--generator_export",
            type=str | None,
            default=None,
            help="a generator export (.safetensors) to test or predict with; `--ckpt_path FILE.safetensors` sets it",
        )
        parser.add_argument(
            "--hints",
            type=str | None,
            default=None,
            help="predict: a JSON file of colour hints per photo, for a model trained with hints (docs/hints.md)",
        )
        parser.link_arguments("trainer.default_root_dir", "checkpoint.dirpath", compute_fn=_checkpoint_dir)
        parser.add_lightning_class_args(LastCheckpoint, "last_checkpoint")
        parser.link_arguments("trainer.default_root_dir", "last_checkpoint.dirpath", compute_fn=_checkpoint_dir)
        parser.add_lightning_class_args(MidEpochCheckpoint, "mid_epoch_checkpoint")
        parser.link_arguments("trainer.default_root_dir", "mid_epoch_checkpoint.dirpath", compute_fn=_checkpoint_dir)
        parser.add_lightning_class_args(ValidationSamples, "samples")
        parser.add_lightning_class_args(EvaluationReport, "evaluation")
        parser.add_lightning_class_args(ColorizedPhotoWriter, "prediction")
        parser.link_arguments("data.predict_path", "prediction.input_root")
        parser.add_lightning_class_args(ColorizedVideoWriter, "video")
        parser.link_arguments("data.predict_path", "video.input_root")
        parser.set_defaults(
            {
                "trainer.max_epochs": 80,
                "trainer.default_root_dir": "runs/default",
                "trainer.logger": {"class_path": f"{ColorizeWandbLogger.__module__}.{ColorizeWandbLogger.__name__}"},
            }
        )

    def _parse_ckpt_path(self) -> None:
        # LightningCLI parses a --ckpt_path's hyperparameters into the config, which imports every
        # class path they name: refuse a checkpoint naming anything but colorize's classes first.
        subcommand = self.config.get("subcommand")
        value = self.config[subcommand].get("ckpt_path") if subcommand else None
        if value and Path(value).is_file():
            from colorize.inference.colorizer import check_checkpoint

            try:
                check_checkpoint(value)
            except (FileNotFoundError, ValueError) as error:
                raise SystemExit(f"colorize {subcommand}: {error}") from None
        super()._parse_ckpt_path()

    def before_instantiate_classes(self) -> None:
        trainer = self.config[self.subcommand].trainer if self.subcommand else self.config.trainer
        if str(trainer.precision) in BF16_PRECISIONS and runs_on_cpu(trainer.accelerator) and not cpu_has_native_bf16():
            # Emulated bf16 (no AVX-512 BF16 / AMX) is ~7x slower than float32: same recipe, float32 arithmetic.
            log.warning(
                "trainer.precision=%s: this CPU has no native bf16 (AVX-512 BF16 or AMX), where bf16 is emulated "
                "and several times slower than float32; running in 32-true instead",
                trainer.precision,
            )
            trainer.precision = "32-true"
        if trainer.strategy == "ddp":
            # Each optimizer step backpropagates through one network only (D step: G is detached;
            # G step: D is frozen), so DDP must expect parameters without gradients.
            trainer.strategy = "ddp_find_unused_parameters_true"

    def instantiate_trainer(self, **kwargs):
        config = self._get(self.config_init, "trainer", default={})
        if not config.get("plugins") and "plugins" not in kwargs:
            kwargs["plugins"] = [AtomicCheckpointIO()]
        return super().instantiate_trainer(**kwargs)

    def after_instantiate_classes(self) -> None:
        run_dir = Path(self.trainer.default_root_dir)
        for logger in self.trainer.loggers:
            if isinstance(logger, ColorizeWandbLogger):
                logger.use_run_folder(run_dir, create_id=self.trainer.is_global_zero)
        single_video = any(isinstance(c, ColorizedVideoWriter) and c.single_video for c in self.trainer.callbacks)
        for callback in self.trainer.callbacks:
            if isinstance(callback, ColorizedPhotoWriter):
                if single_video:
                    callback.input_root = None  # one film in: no photo to write, no folder to keep photos out of
                if callback.output_dir is None:
                    callback.output_dir = run_dir / "predictions"

    # ---- checks that must fail before any training starts
    def _validate(self) -> None:
        if self.config[self.subcommand].get("hints"):
            raise SystemExit(f"colorize {self.subcommand}: --hints is for colorize predict (test sweeps its own hints)")
        try:
            self.datamodule.validate()
            stride = getattr(self.model.generator, "stride", 1)
            size = self.datamodule.hparams.image_size
            if size % stride:
                raise ValueError(
                    f"data.image_size={size} is not a multiple of {stride}, the total stride of "
                    f"{type(self.model.generator).__name__}; use e.g. {max(stride, size // stride * stride)}"
                )
        except (ValueError, FileNotFoundError) as error:
            raise SystemExit(f"colorize: configuration error: {error}") from None

    def _default_checkpoint(self, subcommand: str) -> None:
        """Which weights ``test``/``predict`` use: the run's ``last.ckpt`` unless told otherwise.

        The paper evaluated its final generators, so ``last`` is the default; ``best`` is the
        run's ``best.ckpt`` (chosen by :data:`MONITOR`); any other value is a file, or comes
        from ``--generator_export``.
        """
        kwargs = self.config_init[subcommand]
        export = self.config[subcommand].get("generator_export")
        if export:
            from colorize.inference.export import read_export

            try:
                self.model.generator, exported = read_export(export)
                # The export is what colorizes, the way it was exported: not the config's average or mirroring.
                self.model.generator_ema = None
                self.model.mirror_average = bool(exported.get("mirror_average", False))
            except (FileNotFoundError, ValueError) as error:
                raise SystemExit(f"colorize {subcommand}: {error}") from None
            kwargs["ckpt_path"], used = None, export
        else:
            value = kwargs.get("ckpt_path") or "last"
            if value in ("last", "best"):
                path = Path(self.trainer.default_root_dir) / "checkpoints" / f"{value}.ckpt"
                if not path.is_file():
                    why = f" (best is chosen by {MONITOR})" if value == "best" else ""
                    raise SystemExit(
                        f"colorize {subcommand}: no {value} checkpoint at {path}{why}; train first "
                        f"(colorize fit --config ...) or pass --ckpt_path FILE"
                    )
                value = str(path)
            kwargs["ckpt_path"] = used = value
        # A checkpoint is a pickle: never unpickle more than tensors and plain data.
        kwargs["weights_only"] = True
        for callback in self.trainer.callbacks:
            if isinstance(callback, EvaluationReport):
                callback.checkpoint_path = str(used)

    def _read_predict_hints(self) -> None:
        """``--hints``: checked whole against the inputs and the model before any photo is colorized."""
        path = self.config.predict.get("hints")
        if not path:
            return
        from colorize.inference.hints import read_hints_file
        from colorize.models.hints import takes_hints

        if not takes_hints(self.model.generator):
            raise SystemExit(
                f"colorize predict: --hints {path}: this model was trained without hints "
                "(model.generator.init_args.hints is false); train one with hints, e.g. --config offline_hints.yaml"
            )
        root = Path(self.datamodule.hparams.predict_path).expanduser().resolve()
        base = root.parent if root.is_file() else root
        inputs = {p.resolve().relative_to(base).as_posix(): p for p in self.datamodule._predict_paths()}
        try:
            hints = read_hints_file(path, inputs)
        except (FileNotFoundError, ValueError) as error:
            raise SystemExit(f"colorize predict: {error}") from None
        self.model.predict_hints = {str(Path(inputs[k]).resolve()): v for k, v in hints.items()}

    def before_fit(self) -> None:
        if self.config.fit.get("generator_export"):
            raise SystemExit("colorize fit: a generator export cannot be resumed (it has no optimizer state)")
        self.config_init["fit"]["weights_only"] = True  # a resumed checkpoint is a pickle: tensors and data only
        self._validate()

    def before_validate(self) -> None:
        self._validate()
        if self.config.validate.get("generator_export"):
            self._default_checkpoint("validate")

    def before_test(self) -> None:
        self._validate()
        self._default_checkpoint("test")

    def before_predict(self) -> None:
        if not self.datamodule.hparams.predict_path:
            raise SystemExit("colorize predict: say what to colorize with --input PHOTO_VIDEO_OR_FOLDER")
        self._default_checkpoint("predict")
        self._read_predict_hints()
        for callback in self.trainer.callbacks:
            if isinstance(callback, ColorizedPhotoWriter):
                try:  # before the model runs: a refusal costs nothing and writes nothing
                    callback.refuse_existing(self.datamodule._predict_paths())
                except (FileExistsError, FileNotFoundError, ValueError) as error:
                    raise SystemExit(f"colorize predict: {error}") from None
        # Full-resolution photos are written as they come; keeping them all in memory helps nobody.
        self.config_init["predict"]["return_predictions"] = False

    def after_predict(self) -> None:
        for callback in self.trainer.callbacks:
            if isinstance(callback, ColorizedVideoWriter):
                callback.colorize_all(self.trainer, self.model)


EPILOG = """more commands:
  colorize data sample DIR                      build the offline sample photo set (Debian packages, a PyPI wheel)
  colorize data export SPLIT_JSON OUT_DIR       write a run's test photos as grayscale PNGs
  colorize compare RUN_DIR...                   one results table from several runs' results.json
  colorize export CHECKPOINT [OUT.safetensors]  the generator alone: safetensors + JSON, loads no code
  colorize serve [--ckpt_path PATH]             a local web page that colorizes photos (127.0.0.1:8000)
"""


def runs_on_cpu(accelerator: object) -> bool:
    """Whether Lightning's ``accelerator`` setting ends up on the CPU here ("auto": when no GPU is found)."""
    if accelerator in ("cpu", None):
        return True
    if accelerator != "auto":
        return False
    import torch

    return not (torch.cuda.is_available() or torch.backends.mps.is_available())


def _checkpoint_dir(default_root_dir: str | None) -> str:
    return str(Path(default_root_dir or ".") / "checkpoints")


def run_cli(args: list[str] | None = None) -> ColorizeCLI:
    """Run the LightningCLI in-process; ``args=None`` reads ``sys.argv`` (tests pass a list)."""
    # Lightning's own deprecation noise, not actionable by a user of this tool.
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    # The generator's weight average (model.ema_decay) is in eval mode on purpose: it never trains.
    warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode at the start of training.*")
    # `colorize predict --input film.mp4`: no photo for the predict loop; the film comes after it.
    warnings.filterwarnings("ignore", message=r".*Total length of `DataLoader` across ranks is zero.*")
    return ColorizeCLI(
        ColorizationGAN,
        ColorizationDataModule,
        auto_configure_optimizers=False,
        seed_everything_default=123,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={
            "description": "Colorize grayscale photographs with a conditional GAN.",
            "epilog": EPILOG,
            "formatter_class": argparse.RawDescriptionHelpFormatter,
        },
        args=None if args is None else rewrite_arguments(args),
    )


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["data"]:
        if argv[1:2] == ["sample"]:
            from colorize.data.sample import main as data_main
        elif argv[1:2] == ["export"]:
            from colorize.data.export import main as data_main
        else:
            raise SystemExit("usage: colorize data sample DIR | colorize data export SPLIT_JSON OUT_DIR")
        raise SystemExit(data_main(argv[2:]))
    if argv[:1] == ["compare"]:
        from colorize.evaluation.compare import main as compare_main

        raise SystemExit(compare_main(argv[1:]))
    if argv[:1] == ["export"]:
        from colorize.inference.colorizer import main as export_main

        raise SystemExit(export_main(argv[1:]))
    if argv[:1] == ["serve"]:
        from colorize.serve.server import main as serve_main

        raise SystemExit(serve_main(argv[1:]))
    # Keep sys.argv in step with what is parsed: DDP launches its workers by re-running sys.argv.
    sys.argv[1:] = rewrite_arguments(argv)
    run_cli()


if __name__ == "__main__":
    main()
