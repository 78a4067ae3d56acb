"""No DDP hang when one rank's whole batch was skipped (every photo unreadable or gray)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import datetime, os, sys
    import lightning as L
    import torch
    from lightning.pytorch.strategies import DDPStrategy
    from torch.utils.data import DataLoader

    from colorize.models.patchgan import PatchGAN
    from colorize.models.unet import UNet
    from colorize.training.module import ColorizationGAN


    def batch(size, seed):
        gen = torch.Generator().manual_seed(seed)
        return {"L": torch.rand(size, 1, 16, 16, generator=gen) * 2 - 1,
                "ab": torch.rand(size, 2, 16, 16, generator=gen) - 0.5}


    class LastStep(L.Callback):
        def on_train_end(self, trainer, pl_module):
            weights = torch.cat([p.detach().flatten() for p in pl_module.parameters()])
            with open(os.path.join(sys.argv[1], f"rank{trainer.global_rank}.txt"), "w") as f:
                f.write(f"{trainer.global_step} {float(weights.double().sum())!r}")


    if __name__ == "__main__":
        rank = int(os.environ.get("LOCAL_RANK", "0"))
        # Rank 1's first batch lost every photo; rank 0's is whole. Each item is a ready batch.
        batches = [batch(2, 0), batch(2, 1)] if rank == 0 else [batch(0, 2), batch(2, 3)]
        torch.manual_seed(0)
        model = ColorizationGAN(UNet(base_width=4, depth=2), PatchGAN(base_width=4, num_layers=2))
        trainer = L.Trainer(
            accelerator="cpu", devices=2, max_epochs=1, limit_val_batches=0, logger=False,
            strategy=DDPStrategy(find_unused_parameters=True, timeout=datetime.timedelta(seconds=60)),
            use_distributed_sampler=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, callbacks=[LastStep()], default_root_dir=sys.argv[1],
        )
        trainer.fit(model, DataLoader(batches, batch_size=None))
    """
)


@pytest.mark.slow
def test_one_rank_with_an_empty_batch_keeps_both_ranks_in_step(tmp_path):
    script = tmp_path / "ddp_empty_batch.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, env=env, timeout=420
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [(tmp_path / f"rank{r}.txt").read_text().split() for r in (0, 1)]
    # Both ranks skipped the first step together and trained the second: one batch, D + G steps.
    assert ranks[0][0] == ranks[1][0] == "2"
    assert ranks[0][1] == ranks[1][1]  # and their weights never diverged
