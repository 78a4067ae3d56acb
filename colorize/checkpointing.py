"""Checkpoints that survive a kill: written to a temporary name, then renamed.

Lightning's ``ModelCheckpoint`` keeps the best and last checkpoints at validation time;
:class:`MidEpochCheckpoint` adds a ``last.ckpt`` every N batches, so that a run killed in
the middle of a long epoch (80 epochs of 19,900 photos are hours each on a small GPU)
loses at most N batches. ``os.replace`` is atomic on POSIX and Windows: a reader sees the
old file or the new one, never half of one.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback

log = logging.getLogger(__name__)


def save_checkpoint_atomically(trainer: L.Trainer, path: str | Path) -> None:
    """``trainer.save_checkpoint`` to ``path`` via a temporary file in the same folder.

    Every rank must call it (saving can be collective, e.g. with sharded strategies);
    only rank zero renames.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    if trainer.is_global_zero:
        path.parent.mkdir(parents=True, exist_ok=True)
    trainer.save_checkpoint(tmp)
    trainer.strategy.barrier("atomic_checkpoint")
    if trainer.is_global_zero:
        os.replace(tmp, path)


class MidEpochCheckpoint(Callback):
    """Writes ``<dirpath>/last.ckpt`` every ``every_n_batches`` training batches.

    ``colorize fit ... --ckpt_path last`` then resumes from it (Lightning picks the newest
    ``last*.ckpt`` of the checkpoint folders). 0 disables it.
    """

    def __init__(self, dirpath: str | Path, every_n_batches: int = 500) -> None:
        if every_n_batches < 0:
            raise ValueError(f"every_n_batches must be >= 0, got {every_n_batches}")
        self.dirpath = Path(dirpath)
        self.every_n_batches = every_n_batches

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int):
        if not self.every_n_batches or trainer.sanity_checking or trainer.fast_dev_run:
            return
        if (batch_idx + 1) % self.every_n_batches == 0:
            save_checkpoint_atomically(trainer, self.dirpath / "last.ckpt")
            log.debug("saved %s at global step %d", self.dirpath / "last.ckpt", trainer.global_step)
