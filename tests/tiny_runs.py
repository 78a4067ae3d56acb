"""Seconds-long runs, shared by the tests: CLI arguments (tests/conftest.py's ``tiny_run``) and in-process pieces.

A module of its own (not conftest): ``from conftest import`` would find tests/serve/conftest.py
first when both folders are on sys.path.
"""

import lightning as L
import torch

from colorize.data.datamodule import ColorizationDataModule
from colorize.models.imagenet_weights import OFFLINE_WEIGHTS
from colorize.models.init import init_normal_
from colorize.models.patchgan import PatchGAN
from colorize.models.unet import UNet
from colorize.training.module import ColorizationGAN

TINY_NETWORKS = [
    "--model.generator.init_args.base_width=4",
    "--model.generator.init_args.depth=2",
    "--model.discriminator.init_args.base_width=4",
    "--model.discriminator.init_args.num_layers=2",
]


def tiny_run_args(root, run_dir, *extra: str, experiment: str = "vanilla") -> list[str]:
    """CLI arguments for a seconds-long run of ``experiment`` with small UNet/PatchGAN widths."""
    args = ["--config", f"{experiment}.yaml", "--config", "tiny.yaml", f"--data.root={root}"]
    args += [f"--trainer.default_root_dir={run_dir}"]
    return [*args, *(TINY_NETWORKS if experiment.startswith("vanilla") else []), *extra]


def tiny_data(root, tmp_path, **overrides) -> ColorizationDataModule:
    options = dict(
        root=str(root),
        image_size=32,
        batch_size=2,
        num_workers=0,
        draw_size=None,
        train_size=None,
        val_size=2,
        test_size=2,
        pin_memory=False,
        split_file=str(tmp_path / "split.json"),
    )
    options.update(overrides)
    return ColorizationDataModule(**options)


def tiny_gan(**overrides) -> ColorizationGAN:
    torch.manual_seed(0)
    return ColorizationGAN(UNet(base_width=4, depth=2), PatchGAN(base_width=4, num_layers=2), **overrides)


def colourful_unet(seed: int = 0, base_width: int = 8) -> UNet:
    """A small seeded UNet (eval mode) that paints photo-like colour: N(0, 0.17) weights instead of the
    paper's N(0, 0.02), which leave a random UNet all but gray, so tests of colour have colour to compare
    (about 25 a*b* units of chroma on average, a tenth of the pixels out of gamut)."""
    torch.manual_seed(seed)
    return init_normal_(UNet(base_width=base_width, depth=2), std=0.17).eval()


def describing_checkpoint(path, generator: torch.nn.Module, spec: dict, image_size: int = 32):
    """Write ``generator`` as a self-describing checkpoint at ``path`` (what ``load_colorizer`` and ``colorize serve``
    open: its generator's class path and init args, the training image size, the ``generator.*`` weights)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    checkpoint = {
        "state_dict": {f"generator.{k}": v for k, v in generator.state_dict().items()},
        "hyper_parameters": {"generator": spec},
        "datamodule_hyper_parameters": {"image_size": image_size},
        "epoch": 0,
        "global_step": 0,
    }
    torch.save(checkpoint, path)
    return path


def hint_following_checkpoint(tmp_path, image_size: int = 32, gain: float = 1.0):
    """A self-describing checkpoint (``<tmp_path>/hints/checkpoints/last.ckpt``, model name "hints") whose a*b*
    follow the hints: a tiny hint UNet with its head zeroed, so that it colours nothing by itself (gray without
    hints), and ``hint_head`` reading the hints spread over the image, a* into a* and b* into b* with weight
    ``gain`` before the tanh. Gain 1 gives about the hint's own a*b* (110 tanh(ab / 110): 40 stays 38), so the
    result stays in the sRGB gamut and its L* can be checked; gain 3 would make a hint's 40 a*b* 94."""
    torch.manual_seed(0)
    spec = {"class_path": "colorize.models.unet.UNet", "init_args": {"base_width": 4, "depth": 2, "hints": True}}
    generator = UNet(**spec["init_args"])
    with torch.no_grad():
        generator.head.weight.zero_()
        generator.head.bias.zero_()
        generator.hint_head.weight[0, 0] = generator.hint_head.weight[1, 1] = gain
    return describing_checkpoint(tmp_path / "hints" / "checkpoints" / "last.ckpt", generator, spec, image_size)


def tiny_trainer(tmp_path, **overrides) -> L.Trainer:
    options = dict(
        accelerator="cpu",
        devices=1,
        max_epochs=1,
        limit_train_batches=2,
        limit_val_batches=1,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
    )
    options.update(overrides)
    return L.Trainer(**options)


def make_photo(seed: int, height: int = 40, width: int = 48):
    """A small, smooth, colorful RGB picture: gradients plus a disc, like a blurry photo."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    channels = []
    for _ in range(3):
        fy, fx, phase = rng.uniform(0.02, 0.2, size=2).tolist() + [rng.uniform(0, 6.28)]
        channels.append(0.5 + 0.45 * np.sin(fy * y + fx * x + phase))
    img = np.stack(channels, axis=-1)
    cy, cx, r = rng.uniform(0.3, 0.7) * height, rng.uniform(0.3, 0.7) * width, rng.uniform(4, 12)
    disc = (y - cy) ** 2 + (x - cx) ** 2 < r**2
    img[disc] = rng.uniform(0, 1, size=3)
    return Image.fromarray((img * 255).round().astype(np.uint8), "RGB")


def offline_weights_installed(name: str) -> bool:
    """Whether ``make install`` put the offline ImageNet weights ``name`` on disk (tests skip without them)."""
    try:
        OFFLINE_WEIGHTS[name].locate()
    except FileNotFoundError:
        return False
    return True
