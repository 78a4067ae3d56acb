"""Test-wide settings: never touch the network, never write outside tmp_path."""

import os

# Set before anything imports huggingface_hub or wandb: a hub lookup with no network stalls ~46 s.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("TORCH_HOME", os.path.join(os.path.dirname(__file__), ".torch-home-unused"))

import pytest  # noqa: E402
import torch  # noqa: E402
from tiny_runs import make_photo, tiny_run_args  # noqa: E402

torch.set_num_threads(min(2, os.cpu_count() or 1))


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def photo_folder(tmp_path_factory):
    """Sixteen small color photos in nested folders, shared by the training/CLI tests."""
    root = tmp_path_factory.mktemp("photos")
    for i in range(16):
        folder = root / ("a" if i % 2 else "b")
        folder.mkdir(exist_ok=True)
        make_photo(i).save(folder / f"photo_{i:02d}.{'jpg' if i % 3 else 'png'}", quality=95)
    return root


@pytest.fixture(scope="session")
def tiny_run(photo_folder, tmp_path_factory):
    """A run folder trained by ``colorize fit`` (1 epoch, tiny networks) and tested by ``colorize test``.

    Read-only for the tests that share it: copy it before changing anything.
    """
    from colorize.cli import run_cli

    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    run_cli(["fit", *tiny_run_args(photo_folder, run_dir)])
    run_cli(["test", *tiny_run_args(photo_folder, run_dir)])
    return run_dir
