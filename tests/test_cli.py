"""The `colorize` command end to end, in-process on tiny configs (Lightning's test_cli.py is the model)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_runs import offline_weights_installed

from colorize.cli import CONFIG_DIR, ColorizeCLI, main, resolve_config_path, rewrite_arguments, run_cli

EXPERIMENTS = ["vanilla", "vanilla_augment", "vanilla_perceptual", "advanced", "advanced_warmup"]
# Beyond the paper: the offline-pretrained recipe (VGG16), its from-scratch control, and EfficientNet-Lite0.
OFFLINE_EXPERIMENTS = ["offline", "offline_scratch", "offline_lite0", "offline_hints"]
OVERLAYS = ["tiny", "sample"]
OFFLINE_ENCODER = ["--model.generator.init_args.pretrained=false"]


def experiment_args(name: str, root, run_dir, *extra: str) -> list[str]:
    args = [
        "--config",
        f"{name}.yaml",
        "--config",
        "tiny.yaml",
        f"--data.root={root}",
        f"--trainer.default_root_dir={run_dir}",
    ]
    if name.startswith("advanced"):
        args += OFFLINE_ENCODER
    return [*args, *extra]


def parsed_cli(args: list[str]) -> ColorizeCLI:
    """The CLI with every class built from ``args`` (no subcommand), nothing run."""
    from colorize.data.datamodule import ColorizationDataModule
    from colorize.training.module import ColorizationGAN

    parse = {"auto_configure_optimizers": False, "run": False, "args": rewrite_arguments(args)}
    return ColorizeCLI(ColorizationGAN, ColorizationDataModule, **parse)


def test_every_shipped_config_is_listed_here():
    shipped = {p.stem for p in CONFIG_DIR.glob("*.yaml")}
    assert shipped == set(EXPERIMENTS) | set(OFFLINE_EXPERIMENTS) | set(OVERLAYS)


@pytest.mark.parametrize("name", EXPERIMENTS + OFFLINE_EXPERIMENTS)
@pytest.mark.parametrize("overlay", [None, *OVERLAYS])
def test_every_config_validates_against_the_code(name, overlay, photo_folder, tmp_path):
    args = ["--config", f"{name}.yaml"] + (["--config", f"{overlay}.yaml"] if overlay else [])
    args += [f"--data.root={photo_folder}", f"--trainer.default_root_dir={tmp_path}", "--trainer.logger=false"]
    if name.startswith("advanced"):
        args += OFFLINE_ENCODER
    cli = parsed_cli(args)
    assert cli.model.generator.stride > 1
    assert cli.model.hparams.lambda_l1 == 100.0
    assert (cli.model.perceptual_loss is not None) == (name == "vanilla_perceptual")
    assert cli.datamodule.augment == (name == "vanilla_augment")
    # The sample overlay tests on whole held-out sources; the offline recipe crops, and freezes a pretrained encoder.
    assert cli.datamodule.test_sources == (["mvtb-data", "scratch"] if overlay == "sample" else None)
    assert (cli.datamodule.crop_scale is not None) == (name in OFFLINE_EXPERIMENTS)
    assert (cli.model.hparams.freeze_encoder_epochs > 0) == (name in ("offline", "offline_lite0", "offline_hints"))
    # offline_hints is offline with hints: G and D conditioned on them, hints simulated, the test sweeps them.
    assert getattr(cli.model.generator, "takes_hints", False) == cli.datamodule.hints == (name == "offline_hints")


def test_paper_defaults_reach_the_trainer_and_optimizers(photo_folder, tmp_path):
    cli = run_cli(["fit", *experiment_args("vanilla", photo_folder, tmp_path), "--trainer.max_epochs=0"])
    config = cli.config.fit
    assert config.trainer.logger is False  # tiny overlay
    opt_g, opt_d = cli.trainer.optimizers
    for opt in (opt_g, opt_d):
        assert isinstance(opt, torch.optim.Adam)
        assert opt.param_groups[0]["lr"] == pytest.approx(2e-4)
        assert opt.param_groups[0]["betas"] == (0.5, 0.999)


def test_without_overlays_the_configs_are_the_paper():
    cli = parsed_cli(["--config", "vanilla.yaml", "--trainer.logger=false"])
    data = cli.datamodule.hparams
    assert (data.image_size, data.batch_size, data.seed) == (256, 16, 123)
    assert (data.draw_size, data.train_size, data.test_size) == (20000, 19900, 100)
    assert data.augment is False
    assert cli.trainer.max_epochs == 80


@pytest.mark.slow
@pytest.mark.parametrize("name", ["vanilla", "vanilla_augment", "vanilla_perceptual", "advanced"])
def test_fit_then_test_each_paper_experiment(name, photo_folder, tmp_path, capsys):
    run_cli(["fit", *experiment_args(name, photo_folder, tmp_path)])
    checkpoints = tmp_path / "checkpoints"
    assert (checkpoints / "best.ckpt").is_file() and (checkpoints / "last.ckpt").is_file()
    assert (tmp_path / "split.json").is_file()
    assert list((tmp_path / "samples").glob("val_epoch*.png"))

    run_cli(["test", *experiment_args(name, photo_folder, tmp_path)])
    results = json.loads((tmp_path / "results.json").read_text())
    rows = results["rows"]
    assert set(rows) == {tmp_path.name, "all-gray"}
    for row in rows.values():
        assert 0 <= row["pixel_acc@2%"] <= row["pixel_acc@5%"] <= 1
    assert rows["all-gray"]["colorfulness"] == pytest.approx(0, abs=1.0)
    assert (tmp_path / "test_samples.png").is_file()
    assert "all-gray" in capsys.readouterr().out


@pytest.mark.slow
def test_predict_colorizes_a_folder_at_full_resolution_and_skips_bad_files(photo_folder, tmp_path):
    from PIL import Image

    run_cli(["fit", *experiment_args("vanilla", photo_folder, tmp_path)])
    inputs = tmp_path / "old_photos"
    (inputs / "album").mkdir(parents=True)
    Image.open(next(photo_folder.rglob("*.png"))).convert("L").resize((70, 45)).save(inputs / "album" / "gray.png")
    Image.open(next(photo_folder.rglob("*.jpg"))).convert("RGBA").save(inputs / "rgba.png")
    Image.open(next(photo_folder.rglob("*.jpg"))).convert("CMYK").save(inputs / "cmyk.jpg")
    sixteen_bit = (np.linspace(0, 65535, 30 * 20).reshape(20, 30)).astype(np.uint16)
    Image.fromarray(sixteen_bit).save(inputs / "scan16.png")
    (inputs / "broken.jpg").write_bytes(b"not a jpeg at all")
    out = tmp_path / "colorized"
    run_cli(["predict", *experiment_args("vanilla", photo_folder, tmp_path), f"--input={inputs}", f"--output={out}"])
    gray_out = Image.open(out / "album" / "gray.png")
    assert gray_out.size == (70, 45) and gray_out.mode == "RGB"
    assert (out / "rgba.png").is_file() and Image.open(out / "cmyk.png").mode == "RGB"
    scan = np.asarray(Image.open(out / "scan16.png").convert("L"), dtype=np.float32)
    assert scan.shape == (20, 30)
    assert np.abs(scan - sixteen_bit / 257.0).max() < 4  # lightness kept through the 16 -> 8 bit conversion
    assert not (out / "broken.png").exists()


def test_bare_config_names_resolve_to_the_shipped_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_config_path("advanced.yaml") == str(CONFIG_DIR / "advanced.yaml")
    assert resolve_config_path("configs/tiny.yaml") == str(CONFIG_DIR / "tiny.yaml")
    assert resolve_config_path("sample") == str(CONFIG_DIR / "sample.yaml")
    (tmp_path / "advanced.yaml").write_text("trainer: {}\n")
    assert resolve_config_path("advanced.yaml") == "advanced.yaml"  # a file where the user stands wins
    assert rewrite_arguments(["--config=tiny.yaml", "--input", "x", "--output=y"]) == [
        f"--config={CONFIG_DIR / 'tiny.yaml'}",
        "--data.predict_path",
        "x",
        "--prediction.output_dir=y",
    ]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--model.no_such_option=1"], "no_such_option"),
        (["--data.batch_size=many"], "batch_size"),
        (["--data.root=/no/such/folder"], "/no/such/folder"),
        (["--data.image_size=40"], "data.image_size=40"),
        (["--data.test_size=1000"], "test_size"),
    ],
)
def test_bad_config_fails_before_training_naming_the_option(extra, message, photo_folder, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(["fit", *experiment_args("vanilla", photo_folder, tmp_path), *extra])
    assert exit_info.value.code != 0
    said = str(exit_info.value.code) + capsys.readouterr().err
    assert message in said
    assert not (tmp_path / "checkpoints").exists()


def test_test_without_a_trained_run_says_what_to_do(photo_folder, tmp_path):
    with pytest.raises(SystemExit, match="train first"):
        run_cli(["test", *experiment_args("vanilla", photo_folder, tmp_path)])


@pytest.mark.slow
def test_resume_from_last_checkpoint_continues_the_run(photo_folder, tmp_path):
    run_cli(["fit", *experiment_args("vanilla", photo_folder, tmp_path)])
    cli = run_cli(
        ["fit", *experiment_args("vanilla", photo_folder, tmp_path, "--trainer.max_epochs=2", "--ckpt_path=last")]
    )
    assert cli.trainer.current_epoch == 2
    assert cli.trainer.global_step == 8  # 2 epochs x 2 batches x (D step + G step)


@pytest.mark.slow
def test_mid_epoch_checkpoint_is_written_atomically(photo_folder, tmp_path, monkeypatch):
    from colorize.training import checkpointing

    run_cli(["fit", *experiment_args("vanilla", photo_folder, tmp_path, "--mid_epoch_checkpoint.every_n_batches=1")])
    last = tmp_path / "checkpoints" / "last.ckpt"
    good = last.read_bytes()

    def crash(*args, **kwargs):  # a kill in the middle of writing
        raise KeyboardInterrupt

    class Trainer:
        is_global_zero = True
        strategy = None

        def save_checkpoint(self, path):
            Path(path).write_bytes(good[: len(good) // 2])
            crash()

    with pytest.raises(KeyboardInterrupt):
        checkpointing.save_checkpoint_atomically(Trainer(), last)
    assert last.read_bytes() == good
    assert torch.load(last, weights_only=False)["global_step"] > 0


@pytest.mark.slow
def test_offline_wandb_run_writes_under_the_run_folder(photo_folder, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    run_cli(
        [
            "fit",
            *experiment_args("vanilla", photo_folder, tmp_path),
            "--trainer.logger=colorize.training.loggers.ColorizeWandbLogger",
        ]
    )
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert runs, list(tmp_path.rglob("*"))
    assert any(p.suffix == ".wandb" for p in runs[0].rglob("*"))


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_completes_a_tiny_fit(photo_folder, tmp_path):
    command = [
        sys.executable,
        "-m",
        "colorize.cli",
        "fit",
        *experiment_args("vanilla", photo_folder, tmp_path),
        "--trainer.devices=2",
        "--trainer.strategy=ddp",
    ]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "distributed_backend=gloo" in done.stderr + done.stdout
    assert "All distributed processes registered" in done.stderr + done.stdout
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    assert checkpoint["global_step"] == 4


def test_help_lists_the_subcommands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for word in ("fit", "test", "predict", "data sample", "compare"):
        assert word in out


OFFLINE_ENCODERS = {
    "efficientnet_lite0": ["--model.generator.init_args.encoder=tf_efficientnet_lite0"],
    "vgg16": ["--model.generator.init_args.encoder=vgg16", "--model.generator.init_args.out_indices=[1, 2, 3, 4, 5]"],
}


@pytest.mark.slow
@pytest.mark.parametrize("weights", list(OFFLINE_ENCODERS))
def test_fit_with_an_offline_imagenet_encoder(weights, photo_folder, tmp_path):
    from colorize.models.imagenet_weights import OFFLINE_WEIGHTS

    if not offline_weights_installed(weights):
        pytest.skip(f"{OFFLINE_WEIGHTS[weights].requirement} is not installed (make install)")
    extra = [*OFFLINE_ENCODERS[weights], f"--model.generator.init_args.weights={weights}"]
    cli = run_cli(["fit", *experiment_args("advanced", photo_folder, tmp_path, *extra)])
    generator = cli.model.generator
    assert generator.stride == 32 and cli.trainer.global_step == 4  # 2 batches x (D step + G step)
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()


def test_unknown_offline_weights_fail_before_training(photo_folder, tmp_path):
    extra = ["--model.generator.init_args.weights=resnet50_offline"]
    with pytest.raises((SystemExit, ValueError), match=r"weights: unknown .*'resnet50_offline'; choices: vgg16"):
        run_cli(["fit", *experiment_args("advanced", photo_folder, tmp_path, *extra)])
    assert not (tmp_path / "checkpoints").exists()


@pytest.mark.parametrize("native", [True, False])
def test_bf16_training_on_a_cpu_without_native_bf16_runs_in_float32(native, photo_folder, tmp_path, monkeypatch):
    # Emulated bf16 was 7x slower than float32 for the demo's generator (colorize/models/bf16.py).
    import colorize.cli

    monkeypatch.setattr(colorize.cli, "cpu_has_native_bf16", lambda: native)
    args = ["--config", "vanilla.yaml", "--config", "tiny.yaml", f"--data.root={photo_folder}"]
    args += [f"--trainer.default_root_dir={tmp_path}", "--trainer.precision=bf16-mixed", "--trainer.accelerator=cpu"]
    cli = parsed_cli(args)
    assert cli.trainer.precision == ("bf16-mixed" if native else "32-true")
