"""Runs and checkpoints that stand on their own, end to end through the real CLI on tiny runs.

A checkpoint or export alone tests and colorizes; compare_checkpoints gives one table;
results.json names its test set; the paper's protocol (last checkpoint) is the default;
one last.ckpt per run; one W&B run per run folder.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_runs import tiny_run_args

from colorize.cli import run_cli
from colorize.inference.export import read_export_config

pytestmark = pytest.mark.slow


def mixed_folder(photo_folder: Path, root: Path) -> Path:
    """A folder a camera makes: IMG_001.JPG beside IMG_001.png, a subfolder, a broken file."""
    (root / "album").mkdir(parents=True)
    photos = sorted(photo_folder.rglob("*.jpg"))
    Image.open(photos[0]).save(root / "IMG_001.JPG")
    Image.open(photos[1]).convert("L").resize((50, 30)).save(root / "IMG_001.png")
    Image.open(photos[2]).save(root / "album" / "beach.jpg")
    (root / "album" / "broken.jpg").write_bytes(b"not a jpeg")
    return root


def copy_run(run: Path, where: Path) -> Path:
    shutil.copytree(run, where, ignore=shutil.ignore_patterns("wandb", "wandb_run_id"))
    return where


def test_predict_with_only_a_moved_checkpoint_writes_every_photo(tiny_run, photo_folder, tmp_path, monkeypatch):
    checkpoint = tmp_path / "from_a_colleague" / "model.ckpt"
    checkpoint.parent.mkdir()
    shutil.copy(tiny_run / "checkpoints" / "last.ckpt", checkpoint)
    inputs = mixed_folder(photo_folder, tmp_path / "photos")
    monkeypatch.chdir(tmp_path)  # a loose checkpoint's run folder is runs/<its name>, where the user stands
    run_cli(["predict", "--ckpt_path", str(checkpoint), "--input", str(inputs), "--output", str(tmp_path / "out")])
    written = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.png"))
    assert written == ["IMG_001.JPG.png", "IMG_001.png.png", "album/beach.png"]
    assert Image.open(tmp_path / "out" / "IMG_001.png.png").size == (50, 30)
    assert (tmp_path / "runs" / "model").is_dir()


def test_test_with_only_a_checkpoint_and_the_photos(tiny_run, photo_folder, tmp_path, capsys):
    run = copy_run(tiny_run, tmp_path / "run")
    (run / "results.json").unlink()
    # FID/KID off only for speed (Inception-v3 on a CPU); the command is otherwise as a user types it.
    run_cli(
        [
            "test",
            "--ckpt_path",
            str(run / "checkpoints" / "last.ckpt"),
            "--data.root",
            str(photo_folder),
            "--evaluation.fid_kid=false",
        ]
    )
    metadata = json.loads((run / "results.json").read_text())["metadata"]  # the checkpoint's own run folder
    assert metadata["checkpoint"] == str(run / "checkpoints" / "last.ckpt")
    assert "all-gray" in capsys.readouterr().out


def test_results_json_names_its_test_set_checkpoint_and_code(tiny_run):
    results = json.loads((tiny_run / "results.json").read_text())
    metadata = results["metadata"]
    split = json.loads((tiny_run / "split.json").read_text())
    assert metadata["split_file"] == str(tiny_run / "split.json")
    assert metadata["test_set_sha256"] == hashlib.sha256("\n".join(sorted(split["test"])).encode()).hexdigest()
    assert metadata["image_size"] == 32 and metadata["num_test_images"] == 2
    # The paper's protocol: the final generator, not the one picked by a metric.
    assert metadata["checkpoint"] == str(tiny_run / "checkpoints" / "last.ckpt")
    last = torch.load(tiny_run / "checkpoints" / "last.ckpt", weights_only=True)
    assert (metadata["epoch"], metadata["step"]) == (last["epoch"], last["global_step"]) == (0, 4)
    assert metadata["versions"]["torch"] == importlib.metadata.version("torch")
    assert metadata["versions"]["lightning"] and "git_commit" in metadata
    assert "balanced_acc@5%" in results["rows"]["all-gray"]
    assert results["rows"]["all-gray"]["balanced_acc@5%"] == pytest.approx(0.5)


def test_best_is_chosen_by_the_balanced_accuracy_and_asked_for_by_name(tiny_run, photo_folder, tmp_path):
    best = torch.load(tiny_run / "checkpoints" / "best.ckpt", weights_only=True)
    state = next(v for k, v in best["callbacks"].items() if k.startswith("ModelCheckpoint"))
    assert state["monitor"] == "val/balanced_acc@5%"
    run = copy_run(tiny_run, tmp_path / "run")
    run_cli(["test", *tiny_run_args(photo_folder, run), "--ckpt_path=best"])
    assert json.loads((run / "results.json").read_text())["metadata"]["checkpoint"] == str(
        run / "checkpoints" / "best.ckpt"
    )


def test_last_checkpoint_is_the_final_epoch_when_the_monitored_metric_stopped_improving(photo_folder, tmp_path):
    # Monitoring the epoch number in "min" mode makes epoch 0 the best and every later epoch worse:
    # last.ckpt must still be the final state, and `colorize test` must evaluate that one.
    args = tiny_run_args(photo_folder, tmp_path, "--trainer.max_epochs=3")
    run_cli(["fit", *args, "--checkpoint.monitor=epoch", "--checkpoint.mode=min"])
    checkpoints = tmp_path / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["best.ckpt", "last.ckpt"]
    assert torch.load(checkpoints / "best.ckpt", weights_only=True)["epoch"] == 0
    last = torch.load(checkpoints / "last.ckpt", weights_only=True)
    assert (last["epoch"], last["global_step"]) == (2, 12)
    run_cli(["test", *args])
    metadata = json.loads((tmp_path / "results.json").read_text())["metadata"]
    assert (metadata["checkpoint"], metadata["epoch"]) == (str(checkpoints / "last.ckpt"), 2)


def test_compare_checkpoints_gives_one_table(tiny_run, photo_folder, tmp_path):
    other = tmp_path / "other"
    run_cli(["fit", *tiny_run_args(photo_folder, other, "--seed_everything=7")])
    exported = tmp_path / "other.safetensors"
    run = copy_run(tiny_run, tmp_path / "tiny")
    compare = json.dumps({"other": str(other / "checkpoints" / "last.ckpt"), "shared": str(exported)})
    from colorize.inference.colorizer import export_checkpoint

    export_checkpoint(other / "checkpoints" / "last.ckpt", exported)
    run_cli(["test", *tiny_run_args(photo_folder, run), f"--evaluation.compare_checkpoints={compare}"])
    rows = json.loads((run / "results.json").read_text())["rows"]
    assert list(rows) == ["tiny", "other", "shared", "all-gray"]
    assert rows["other"] == rows["shared"]  # the export is the same generator
    assert rows["other"] != rows["tiny"]
    assert "| other |" in (run / "results.md").read_text()


def test_export_predicts_like_the_checkpoint_and_a_tampered_one_is_refused(tiny_run, photo_folder, tmp_path):
    from safetensors.torch import load_file, save_file

    from colorize.inference.colorizer import export_checkpoint

    inputs = mixed_folder(photo_folder, tmp_path / "photos")
    exported = export_checkpoint(tiny_run / "checkpoints" / "last.ckpt", tmp_path / "tiny.safetensors")
    common = ["--input", str(inputs), "--trainer.logger=false", f"--trainer.default_root_dir={tmp_path / 'r'}"]
    run_cli(["predict", "--ckpt_path", str(exported), "--output", str(tmp_path / "a"), *common])
    run_cli(
        [
            "predict",
            "--ckpt_path",
            str(tiny_run / "checkpoints" / "last.ckpt"),
            "--output",
            str(tmp_path / "b"),
            *common,
        ]
    )
    for name in ("IMG_001.JPG.png", "album/beach.png"):
        assert np.array_equal(
            np.asarray(Image.open(tmp_path / "a" / name)), np.asarray(Image.open(tmp_path / "b" / name))
        )

    config = read_export_config(exported)
    weights = load_file(exported)
    evil = dict(config, generator={"class_path": "os.system", "init_args": {"command": "touch pwned"}})
    save_file(weights, tmp_path / "evil.safetensors", metadata={"colorize": json.dumps(evil)})
    changed = {k: v + 1 if v.is_floating_point() else v for k, v in weights.items()}
    save_file(changed, tmp_path / "changed.safetensors", metadata={"colorize": json.dumps(config)})
    for name, message in (("evil", "refusing .*'os.system'"), ("changed", "do not match the digest")):
        with pytest.raises(SystemExit, match=message):
            run_cli(
                [
                    "predict",
                    "--ckpt_path",
                    str(tmp_path / f"{name}.safetensors"),
                    "--output",
                    str(tmp_path / name),
                    *common,
                ]
            )
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


def test_resume_keeps_one_last_checkpoint_holding_the_newest_state(photo_folder, tmp_path):
    args = tiny_run_args(photo_folder, tmp_path, "--mid_epoch_checkpoint.every_n_batches=1")
    run_cli(["fit", *args])
    run_cli(["fit", *args, "--trainer.max_epochs=2", "--ckpt_path=last"])
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    assert torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 8


def test_fit_test_predict_of_one_run_folder_log_into_one_wandb_run(photo_folder, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    import wandb

    wandb.finish()  # a run another test left open would be reused by the logger, whatever its id
    run = tmp_path / "run"
    logger = [
        "--trainer.logger=colorize.training.loggers.ColorizeWandbLogger",
        "--trainer.logger.init_args.group=sample-set",
    ]
    inputs = mixed_folder(photo_folder, tmp_path / "photos")
    predict = ["--input", str(inputs), "--output", str(tmp_path / "o")]
    ids = []
    for command in (["fit"], ["test"], ["predict", *predict]):
        cli = run_cli([command[0], *tiny_run_args(photo_folder, run), *logger, *command[1:]])
        ids.append(cli.trainer.logger.experiment.id)
        wandb.finish()  # as when each command is its own process: the next one must find the run by its id
    # finish() can return before W&B's service process has written the last records to disk (seen as a
    # flaky missing group in the predict run's file); teardown stops the service, which flushes everything.
    wandb.teardown()
    run_id = (run / "wandb_run_id").read_text().strip()
    assert ids == [run_id] * 3
    # Offline, each command adds a folder named by its start second and the run id (two starting within one
    # second may share one, or get a "-1" suffix): the id is in every name, whatever follows it.
    runs = sorted((run / "wandb").glob("offline-run-*"))
    assert runs and all(f"-{run_id}" in r.name for r in runs)
    assert all(b"sample-set" in next(r.glob("*.wandb")).read_bytes() for r in runs)  # one group for a comparison
    tables = list((run / "wandb").rglob("media/table/test/results_*.table.json"))
    assert len(tables) == 1
    table = json.loads(tables[0].read_text())
    assert table["columns"][:3] == ["model", "pixel_acc@2%", "pixel_acc@5%"]
    assert [row[0] for row in table["data"]] == ["run", "all-gray"]
    assert list((run / "wandb").rglob("media/images/test/samples_*.png"))


def test_rebuilding_a_saved_generator_loads_no_pretrained_or_packaged_weights():
    from colorize.inference.export import offline_spec

    spec = {
        "class_path": "colorize.models.resnet_unet.ResNetUNet",
        "init_args": {"encoder": "tf_efficientnet_lite0", "weights": "efficientnet_lite0", "pretrained": True},
    }
    rebuilt = offline_spec(spec, "model.generator")
    assert rebuilt["init_args"] == {"encoder": "tf_efficientnet_lite0", "weights": None, "pretrained": False}
    assert spec["init_args"]["weights"] == "efficientnet_lite0"  # the saved spec itself is left alone
