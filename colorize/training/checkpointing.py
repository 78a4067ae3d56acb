"""Checkpoints that survive a kill: written to a temporary name, then renamed; one ``last.ckpt`` per run.

Lightning's ``ModelCheckpoint`` keeps the run's ``best.ckpt``. :class:`LastCheckpoint` writes
``last.ckpt`` at the end of every epoch: the final generator, which the paper evaluated and
``colorize test`` uses by default. (``ModelCheckpoint(save_last=True)`` cannot be trusted with
that: since Lightning 2.6 it writes ``last.ckpt`` only at steps where it also saved a top-k
checkpoint, so with ``save_top_k=1`` "last" silently became a copy of "best".)
:class:`MidEpochCheckpoint` adds a ``last.ckpt`` every N batches, so that a run killed in
the middle of a long epoch (80 epochs of 19,900 photos are hours each on a small GPU)
loses at most N batches. ``os.replace`` is atomic on POSIX and Windows: a reader sees the
old file or the new one, never half of one; :class:`AtomicCheckpointIO` makes every
checkpoint write go that way.

Both write the *same* ``last.ckpt`` (no ``last-v1.ckpt`` beside it after a resume), so
whichever wrote last holds the newest state, and ``--ckpt_path last`` resumes from it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import lightning as L
from lightning.fabric.plugins import TorchCheckpointIO
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

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


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, through a temporary file in the same folder and a rename.

    Lightning already serializes to memory before writing, but a kill during the write itself
    leaves a truncated file where a good ``last.ckpt`` was.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None) -> None:
        path = Path(path)
        tmp = path.with_name(f".{path.name}.io.tmp")
        try:
            super().save_checkpoint(checkpoint, tmp, storage_options)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


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


class LastCheckpoint(ModelCheckpoint):
    """Writes ``<dirpath>/last.ckpt`` at the end of every epoch, whatever the monitored metric did.

    A ``ModelCheckpoint`` with no monitor saves at every epoch end; named "last", with one file
    kept and no version counter, that file is the newest state. Lightning orders checkpoint
    callbacks after the others and keeps their order, so it runs after the ``best.ckpt`` one and
    its file carries that callback's up-to-date state for a resume.
    """

    def __init__(self, dirpath: str | Path) -> None:
        super().__init__(
            dirpath=dirpath,
            filename=self.CHECKPOINT_NAME_LAST,
            monitor=None,
            save_top_k=1,
            save_last=False,
            auto_insert_metric_name=False,
            enable_version_counter=False,
        )
