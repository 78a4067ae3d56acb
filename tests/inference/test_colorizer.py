"""A trained colorizer from a checkpoint or an export alone: no config, any folder."""

from __future__ import annotations

import shutil

import pytest
import torch
from tiny_runs import tiny_data, tiny_gan, tiny_run_args, tiny_trainer

from colorize.cli import run_cli
from colorize.inference.colorizer import export_checkpoint, load_colorizer, read_checkpoint
from colorize.models.mirror_average import MirrorAverage
from colorize.models.patchgan import PatchGAN
from colorize.models.unet import UNet
from colorize.training.module import ColorizationGAN


def photo(seed: int = 0, height: int = 45, width: int = 70) -> torch.Tensor:
    return torch.randint(0, 256, (3, height, width), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_a_cli_checkpoint_names_its_networks_and_their_init_args(tiny_run):
    described = read_checkpoint(tiny_run / "checkpoints" / "last.ckpt")
    assert described["generator"] == {
        "class_path": "colorize.models.unet.UNet",
        "init_args": {"in_channels": 1, "out_channels": 2, "base_width": 4, "depth": 2, "hints": False},
    }
    assert described["model"]["discriminator"]["class_path"] == "colorize.models.patchgan.PatchGAN"
    assert described["model"]["discriminator"]["init_args"]["num_layers"] == 2
    assert described["data"]["image_size"] == 32


def test_load_from_checkpoint_rebuilds_the_injected_networks_in_plain_python(tiny_run):
    model = ColorizationGAN.load_from_checkpoint(tiny_run / "checkpoints" / "last.ckpt", map_location="cpu")
    assert isinstance(model.generator, UNet) and isinstance(model.discriminator, PatchGAN)
    state = torch.load(tiny_run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    for name, value in model.generator.state_dict().items():
        assert torch.equal(value, state[f"generator.{name}"]), name


def test_a_moved_checkpoint_colorizes_with_no_config_beside_it(tiny_run, tmp_path):
    moved = tmp_path / "elsewhere" / "model.ckpt"
    moved.parent.mkdir()
    shutil.copy(tiny_run / "checkpoints" / "last.ckpt", moved)
    colorizer = load_colorizer(moved)
    assert (colorizer.image_size, colorizer.name, colorizer.source) == (32, "model", moved)
    assert not colorizer.generator.training
    assert colorizer.info["generator"] == "colorize.models.unet.UNet" and colorizer.info["step"] > 0
    assert "results" not in colorizer.info  # no run folder around it
    out = colorizer.colorize(photo())
    assert out.shape == (3, 45, 70) and out.dtype == torch.uint8


def test_in_its_run_folder_a_checkpoint_brings_its_test_results(tiny_run):
    colorizer = load_colorizer(tiny_run / "checkpoints" / "last.ckpt")
    assert colorizer.name == "tiny"
    results = colorizer.info["results"]
    assert set(results) == {"model", "all-gray", "checkpoint"}
    assert 0 <= results["all-gray"]["pixel_acc@2%"] <= 1 and "psnr" in results["model"]


def test_export_is_small_colorizes_like_the_checkpoint_and_travels_alone(tiny_run, tmp_path):
    checkpoint = tiny_run / "checkpoints" / "last.ckpt"
    exported = export_checkpoint(checkpoint, tmp_path / "shared" / "tiny.safetensors")
    assert exported.stat().st_size < checkpoint.stat().st_size / 3  # no discriminator, no optimizer state
    moved = tmp_path / "inbox" / "from_a_stranger.safetensors"
    moved.parent.mkdir()
    shutil.move(exported, moved)
    from_export, from_checkpoint = load_colorizer(moved), load_colorizer(checkpoint)
    assert (from_export.image_size, from_export.name) == (32, "tiny")
    assert from_export.info["step"] == from_checkpoint.info["step"]
    assert from_export.info["results"] == from_checkpoint.info["results"]
    assert torch.equal(from_export.colorize(photo(1)), from_checkpoint.colorize(photo(1)))


def test_a_hand_built_checkpoint_says_it_does_not_describe_itself(photo_folder, tmp_path):
    model = tiny_gan()
    trainer = tiny_trainer(tmp_path, limit_train_batches=1, limit_val_batches=0)
    data = tiny_data(photo_folder, tmp_path)
    trainer.fit(model, data)
    trainer.save_checkpoint(tmp_path / "hand.ckpt")
    # The live networks are not pickled into the hyperparameters: the file stays weights-only loadable.
    assert "generator" not in torch.load(tmp_path / "hand.ckpt", weights_only=True)["hyper_parameters"]
    with pytest.raises(ValueError, match="does not say which generator"):
        load_colorizer(tmp_path / "hand.ckpt")


def test_bad_files_fail_with_one_line_naming_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.ckpt"):
        load_colorizer(tmp_path / "nothing.ckpt")
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.ckpt"):
        load_colorizer(junk)


def test_an_export_naming_a_foreign_class_is_refused_before_anything_is_imported(tiny_run, tmp_path, monkeypatch):
    import json
    import sys

    from safetensors.torch import load_file, save_file

    from colorize.inference.export import read_export_config

    exported = export_checkpoint(tiny_run / "checkpoints" / "last.ckpt", tmp_path / "tiny.safetensors")
    config = read_export_config(exported)
    config["generator"] = {"class_path": "evil_module_that_does_not_exist.Payload", "init_args": {}}
    save_file(load_file(exported), tmp_path / "evil.safetensors", metadata={"colorize": json.dumps(config)})
    imported = []
    monkeypatch.setattr(sys, "meta_path", [*sys.meta_path])
    sys.meta_path.insert(0, type("Spy", (), {"find_spec": staticmethod(lambda name, *a: imported.append(name))})())
    with pytest.raises(ValueError, match="refusing generator.class_path='evil_module_that_does_not_exist.Payload'"):
        load_colorizer(tmp_path / "evil.safetensors")
    assert "evil_module_that_does_not_exist" not in imported
    renamed = tmp_path / "not_an_export.safetensors"
    shutil.copy(tiny_run / "checkpoints" / "last.ckpt", renamed)  # a pickle under an export's name
    with pytest.raises(ValueError, match="not a colorize generator export"):
        load_colorizer(renamed)


def test_a_run_with_a_weight_average_and_mirroring_colorizes_so_from_checkpoint_and_export(photo_folder, tmp_path):
    run_dir = tmp_path / "ema"
    run_cli(["fit", *tiny_run_args(photo_folder, run_dir, "--model.ema_decay=0.5", "--model.mirror_average=true")])
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    state = torch.load(checkpoint, weights_only=True)["state_dict"]
    colorizer = load_colorizer(checkpoint)
    assert colorizer.mirror_average and isinstance(colorizer.network, MirrorAverage)
    exported = load_colorizer(export_checkpoint(checkpoint, tmp_path / "ema.safetensors"))
    assert exported.mirror_average
    assert torch.equal(exported.colorize(photo()), colorizer.colorize(photo()))
    loaded = colorizer.generator.state_dict()
    differs = False
    for name, value in loaded.items():
        assert torch.equal(value, state[f"generator_ema.average.{name}"]), name
        differs |= not torch.equal(value, state[f"generator.{name}"])
    assert differs  # the average is not the raw generator
    model = ColorizationGAN.load_from_checkpoint(checkpoint, map_location="cpu")
    assert int(model.generator_ema.updates) == int(state["generator_ema.updates"]) > 0


def test_test_with_only_a_checkpoint_keeps_its_weight_average_and_mirroring(photo_folder, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    run_cli(["fit", *tiny_run_args(photo_folder, run_dir, "--model.ema_decay=0.5", "--model.mirror_average=true")])
    checkpoint = tmp_path / "moved.ckpt"
    shutil.copy(run_dir / "checkpoints" / "last.ckpt", checkpoint)
    monkeypatch.chdir(tmp_path)
    cli = run_cli(
        ["test", "--ckpt_path", str(checkpoint), f"--data.root={photo_folder}", "--evaluation.fid_kid=false"]
        + ["--trainer.logger=false", "--data.num_workers=0", "--data.test_size=2", "--data.val_size=2"]
    )
    assert cli.model.mirror_average and cli.model.generator_ema is not None
    state = torch.load(checkpoint, weights_only=True)["state_dict"]
    for name, value in cli.model.generator_ema.average.state_dict().items():
        assert torch.equal(value.cpu(), state[f"generator_ema.average.{name}"]), name
