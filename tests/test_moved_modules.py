"""Files written before colorize/ was grouped by concern still load, resume and colorize.

``tests/fixtures/before_regroup/`` was written by the flat layout (commit 26d9a3e): a tiny
``colorize fit`` run with the perceptual loss, a weight average and mirror averaging, its
``config.yaml``, and ``colorize export`` of its ``last.ckpt``. They name the old module paths
(``colorize.losses.PerceptualLoss``, ``colorize.module.paper_adam``).
"""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import pytest
import torch

import colorize
from colorize.cli import run_cli
from colorize.inference.colorizer import load_colorizer, read_checkpoint

FIXTURES = Path(__file__).parent / "fixtures" / "before_regroup"
CHECKPOINT = FIXTURES / "last.ckpt"
EXPORT = FIXTURES / "tiny_before_regroup.safetensors"


@pytest.mark.parametrize("old", sorted(colorize.MOVED_MODULES))
def test_an_old_module_name_is_the_module_that_holds_it_now(old):
    assert importlib.import_module(old) is importlib.import_module(colorize.MOVED_MODULES[old])


def test_the_fixtures_name_the_old_modules():
    """Guards the tests below: they would prove nothing if the fixtures named the new paths."""
    model = read_checkpoint(CHECKPOINT)["model"]
    assert model["perceptual_loss"]["class_path"] == "colorize.losses.PerceptualLoss"
    assert model["generator_optimizer"] == "colorize.module.paper_adam"
    assert "colorize.losses.PerceptualLoss" in (FIXTURES / "config.yaml").read_text()


def test_a_checkpoint_and_its_export_from_before_colorize_the_same(tmp_path):
    torch.manual_seed(0)
    photo = (torch.rand(3, 40, 56) * 255).to(torch.uint8)
    from_checkpoint = load_colorizer(CHECKPOINT)
    from_export = load_colorizer(EXPORT)
    assert from_checkpoint.mirror_average and from_export.mirror_average
    colour = from_checkpoint.colorize(photo)
    assert colour.shape == photo.shape and colour.dtype == torch.uint8
    assert torch.equal(colour, from_export.colorize(photo))


@pytest.mark.slow
def test_training_resumes_from_a_run_written_before(photo_folder, tmp_path):
    """The old config.yaml (old class paths throughout) and the old checkpoint resume one more epoch."""
    run = tmp_path / "run"
    checkpoint = tmp_path / "old.ckpt"
    shutil.copy(CHECKPOINT, checkpoint)
    run_cli(
        [
            "fit",
            "--config",
            str(FIXTURES / "config.yaml"),
            f"--data.root={photo_folder}",
            f"--trainer.default_root_dir={run}",
            "--trainer.max_epochs=2",
            f"--ckpt_path={checkpoint}",
        ]
    )
    resumed = read_checkpoint(run / "checkpoints" / "last.ckpt")
    assert resumed["epoch"] == 1
    assert resumed["step"] > read_checkpoint(CHECKPOINT)["step"]
    assert any(k.startswith("perceptual_loss.") or k.startswith("generator.") for k in resumed["state_dict"])
