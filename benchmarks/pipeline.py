"""The data pipeline: the reference setup against ours, loading included; the loader alone; Lab conversion alone.

The *reference setup* is the paper's tutorial code: the dataset converts each photo to Lab with
``skimage.color.rgb2lab`` on the CPU, and training runs in fp32. *Our default training
configuration* hands uint8 batches to the device, converts them there with kornia
(:class:`colorize.data.datamodule.ColorizationDataModule`), and trains in bf16 autocast with
channels-last memory. Both feed the same GAN of :mod:`benchmarks.train_step`, timed from one
batch's end to the next, so loading, transfer, conversion and the step all count.
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from benchmarks.common import (
    StepTimer,
    fmt,
    median_time,
    peak_memory_mib,
    ratio,
    reset_peak_memory,
    run_rounds,
    synchronize,
    table,
)
from benchmarks.photos import photo_paths
from benchmarks.train_step import BF16_CL, BF16_CL_COMPILE, FP32, make_module, make_trainer
from colorize.color import rgb_to_normalized_lab
from colorize.data.datamodule import ColorizationDataModule
from colorize.data.dataset import PhotoDataset
from colorize.data.images import PHOTO_FORMATS, load_rgb


class ReferenceLabDataset(Dataset):
    """The paper's tutorial dataset: resize (bicubic), then ``skimage.color.rgb2lab`` per image on the CPU."""

    def __init__(self, paths: Sequence[Path], image_size: int):
        self.paths = list(paths)
        self.image_size = image_size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        from skimage.color import rgb2lab

        image = Image.open(self.paths[index], formats=PHOTO_FORMATS).convert("RGB")
        image = image.resize((self.image_size, self.image_size), Image.Resampling.BICUBIC)
        lab = torch.from_numpy(rgb2lab(np.asarray(image)).astype("float32")).permute(2, 0, 1)
        return {"L": lab[[0]] / 50.0 - 1.0, "ab": lab[[1, 2]] / 110.0}


class FolderDataModule(ColorizationDataModule):
    """Our pipeline on a fixed list of photos: PhotoDataset (uint8), conversion in ``on_after_batch_transfer``."""

    def __init__(self, paths: Sequence[Path], **kwargs):
        super().__init__(**kwargs)
        self.paths = list(paths)

    def prepare_data(self) -> None:
        pass  # the photos are given: nothing to download

    def setup(self, stage: str | None = None) -> None:
        self.train_dataset = PhotoDataset(self.paths, self.image_size, self.skip_gray)


def reference_loader(paths: Sequence[Path], image_size: int, batch_size: int, num_workers: int) -> DataLoader:
    # The same loader settings as ColorizationDataModule._loader, so only the conversion differs.
    return DataLoader(
        ReferenceLabDataset(paths, image_size),
        batch_size=batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=num_workers,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=num_workers > 0,
    )


def loader_alone_rates(
    loader: DataLoader, device: torch.device, convert: Callable[[dict], dict], min_seconds: float
) -> list[float]:
    """Images/s of whole epochs of the loader plus the transfer (and our on-device conversion), no model.

    The first epoch, which waits for the workers to start, is not counted; later epochs are read until
    ``min_seconds`` have passed (at least one). Whole epochs, because the workers prefetch a few batches
    while the first one is awaited, so batch-to-batch intervals would flatter the loader.
    """
    rates: list[float] = []
    deadline = None
    while deadline is None or time.perf_counter() < deadline or not rates:
        start, images = time.perf_counter(), 0
        for batch in loader:
            batch = convert({k: v.to(device, non_blocking=True) for k, v in batch.items()})
            images += int(batch["L"].shape[0])
        synchronize(device)
        if deadline is None:
            deadline = time.perf_counter() + min_seconds
        else:
            rates.append(images / (time.perf_counter() - start))
    return rates


def measure_pipeline(cfg: dict) -> dict:
    """Images/s of the reference or our pipeline feeding the same GAN, and of the loader alone."""
    device = torch.device(cfg["device"])
    reference = cfg["pipeline"] == "reference"
    mode = {"reference": FP32, "ours": BF16_CL, "fastest": BF16_CL_COMPILE}[cfg["pipeline"]]
    paths = [Path(p) for p in cfg["paths"]]
    size, batch, workers, seconds = cfg["image_size"], cfg["batch_size"], cfg["num_workers"], cfg["loader_seconds"]
    idle = reset_peak_memory(device)
    module, timer = make_module(cfg["generator"], mode), StepTimer(device)
    if reference:
        data = {"train_dataloaders": reference_loader(paths, size, batch, workers)}
        alone = loader_alone_rates(reference_loader(paths, size, batch, workers), device, lambda b: b, seconds)
    else:
        dm = FolderDataModule(paths, image_size=size, batch_size=batch, num_workers=workers)
        dm.setup("fit")
        data = {"datamodule": dm}
        convert = functools.partial(dm.on_after_batch_transfer, dataloader_idx=0)
        alone = loader_alone_rates(dm.train_dataloader(), device, convert, seconds)
    with tempfile.TemporaryDirectory() as root:
        make_trainer(mode, device, len(paths) // batch, timer, root).fit(module, **data)
    return {
        "rates": timer.pipeline_rates(cfg["warmup"]),
        "loader_rates": alone,
        "peak_mib": peak_memory_mib(device),
        "idle_mib": idle,
    }


def measure_conversion(paths: Sequence[Path], size: int, device: torch.device, repeats: int) -> dict[str, float]:
    """Seconds to convert one batch of photos to normalized Lab: skimage image by image vs kornia on the batch."""
    from skimage.color import rgb2lab

    images = [np.asarray(load_rgb(p).resize((size, size), Image.Resampling.BICUBIC)) for p in paths]
    batch = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous().to(device)

    def skimage_loop() -> list[tuple[np.ndarray, np.ndarray]]:
        labs = [rgb2lab(image).astype("float32") for image in images]
        return [(lab[..., :1] / 50.0 - 1.0, lab[..., 1:] / 110.0) for lab in labs]

    return {
        "skimage": median_time(skimage_loop, repeats, torch.device("cpu")),
        "kornia": median_time(lambda: rgb_to_normalized_lab(batch), repeats, device),
    }


def pipeline_results(args: argparse.Namespace, scratch: Path, run: Callable[[dict], dict]) -> dict:
    """The reference setup and our default configuration feeding the same generator from the same photos."""
    # A pipeline batch is timed from the previous batch's end: at least one warm-up batch.
    paths, source = photo_paths(args.batch_size * (max(args.warmup, 1) + 1 + args.iterations), scratch)
    common = {k: getattr(args, k) for k in ("image_size", "batch_size", "warmup", "iterations", "device")}
    common |= {"generator": args.pipeline_generator, "paths": [str(p) for p in paths], "num_workers": args.num_workers}
    common["loader_seconds"] = 0.0 if args.quick else 2.0
    names = ("reference", "ours") + (("fastest",) if args.compile else ())
    configs = {
        name: {**common, "task": "pipeline", "pipeline": name, "warmup": args.warmup + (name == "fastest")}
        for name in names
    }
    return {"source": source} | run_rounds(configs, args.rounds, run)


def render_pipeline(r: dict) -> list[str]:
    """The report's pipeline section: each pipeline's training and loader-alone images/s, and the headroom."""
    a = r["args"]
    memory = "peak CUDA memory allocated (MiB)" if a["device"] == "cuda" else "peak RSS (MiB)"
    p = r["pipeline"]
    ref, ours = p["reference"], p["ours"]
    labels = {
        "reference": "reference setup: `skimage.color.rgb2lab` per image in the dataset, fp32",
        "ours": "our default: uint8 to the device, kornia on the batch, bf16 + channels_last",
        "fastest": "the same + `model.compile` (generator and discriminator)",
    }
    pipeline_rows = [
        [
            label,
            fmt(p[key]["images_per_s"]),
            fmt(p[key]["loader_images_per_s"]),
            fmt(p[key]["peak_mib"]),
            ratio(p[key]["images_per_s"] / ref["images_per_s"]),
        ]
        for key, label in labels.items()
        if key in p
    ]
    return [
        f"## Data pipeline: {a['pipeline_generator']}, {a['image_size']} px, batch {a['batch_size']}",
        "",
        f"Both feed the same GAN from {p['source']} ({a['num_workers']} loader workers each); images/s from one "
        "batch's end to the next (loading + transfer + conversion + step), median after the warm-up, pooled over "
        f"{a['rounds']} interleaved round(s). *Loader alone*: whole epochs of the same loader, transfer and "
        "conversion with no model (the first epoch, with the workers' start-up, not counted).",
        "",
        table(["pipeline", "training images/s", "loader alone images/s", memory, "speed-up"], pipeline_rows),
        "",
        f"Loader headroom: the loader alone delivers {ours['loader_images_per_s'] / ours['images_per_s']:.0f}× "
        "the images/s that our default training consumes.",
        "",
    ]


def render_conversion(r: dict) -> list[str]:
    """The report's Lab conversion section: skimage image by image against kornia on the batch."""
    a = r["args"]
    c = r["conversion"]
    n, s = a["convert_batch"], a["convert_size"]
    return [
        f"## Lab conversion alone: {n} × 3 × {s} × {s} uint8 → normalized Lab",
        "",
        f"Median of {a['convert_repeats']} after 1 warm-up.",
        "",
        table(
            ["method", "ms per batch", "images/s", "speed-up"],
            [
                [
                    "`skimage.color.rgb2lab`, image by image (CPU)",
                    fmt(c["skimage"] * 1e3),
                    fmt(n / c["skimage"]),
                    "1.00×",
                ],
                [
                    f"kornia `rgb_to_lab` on the batch ({a['device']})",
                    fmt(c["kornia"] * 1e3),
                    fmt(n / c["kornia"]),
                    ratio(c["skimage"] / c["kornia"]),
                ],
            ],
        ),
        "",
    ]
