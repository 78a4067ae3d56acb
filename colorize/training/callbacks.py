"""Pictures of a fixed set of validation photos after every validation epoch.

The same photos every epoch (the validation loader does not shuffle), laid out as the
paper's Figs. 13–16: grayscale input, colorized, ground truth. Written as PNG under the
run folder, and sent to W&B or TensorBoard when one of them is the logger.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback

log = logging.getLogger(__name__)


class ValidationSamples(Callback):
    """Collects the first ``num_images`` validation photos and their colorization each epoch."""

    def __init__(self, num_images: int = 8, output_dir: str | Path | None = None) -> None:
        self.num_images = num_images
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self._rows: dict[str, list[torch.Tensor]] = {}

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self._rows = {"L": [], "ab_fake": [], "ab": []}

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        have = sum(x.shape[0] for x in self._rows.get("L", []))
        need = self.num_images - have
        if need <= 0 or not isinstance(outputs, dict) or "ab_fake" not in outputs:
            return
        self._rows["L"].append(batch["L"][:need].detach().float().cpu())
        self._rows["ab"].append(batch["ab"][:need].detach().float().cpu())
        self._rows["ab_fake"].append(outputs["ab_fake"][:need].detach().float().cpu())

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero or not self._rows.get("L"):
            return
        from colorize.evaluation.figures import comparison_grid, log_picture
        from colorize.inference.image_files import save_image_png

        rows = {k: torch.cat(v) for k, v in self._rows.items()}
        if rows["L"].shape[0] == 0:  # every validation photo was unreadable
            return
        picture = comparison_grid(rows["L"], rows["ab_fake"], rows["ab"], max_images=self.num_images)
        folder = self.output_dir or Path(trainer.default_root_dir) / "samples"
        save_image_png(picture, folder / f"val_epoch{trainer.current_epoch:03d}.png")
        log_picture(trainer, "val/samples", picture, step=trainer.global_step)


class BalancedAccuracyMonitor(Callback):
    """Logs ``val/balanced_acc@5%``, the metric ``best.ckpt`` is chosen by.

    The paper's pixel accuracy rewards gray output (most a, b values are near zero), so the
    epoch it calls best is the most washed-out one. The balanced accuracy
    (:class:`colorize.evaluation.metrics.BalancedPixelAccuracy`) scores all-gray at exactly 50 %, needs no
    weights and costs next to nothing. The gap to all-gray would not do: on a fixed validation
    set the gray score is a constant, so the gap ranks epochs exactly as the raw accuracy does.

    Args:
        threshold: the accuracy's t, as a fraction.
    """

    def __init__(self, threshold: float = 0.05) -> None:
        from colorize.evaluation.metrics import BalancedPixelAccuracy, balanced_key

        self.metric = BalancedPixelAccuracy(threshold)
        self.key = f"val/{balanced_key(threshold)}"

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self.metric = self.metric.to(pl_module.device)
        self.metric.reset()

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if isinstance(outputs, dict) and "ab_fake" in outputs and batch["ab"].shape[0]:
            self.metric.update(outputs["ab_fake"].detach(), batch["ab"].detach())

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        # Every rank computes (a collective under DDP), even one whose validation photos were all skipped.
        value = self.metric.compute()
        if not torch.isnan(value):  # NaN: not one validation photo on any rank
            pl_module.log(self.key, value, prog_bar=True)
        self.metric.reset()
