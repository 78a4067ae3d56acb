"""One row of `make bench-gpu`: what it is, and how it is measured (a timed window, nvidia-smi beside it).

A training row runs the GAN of :mod:`benchmarks.train_step` under ``Trainer.fit`` and times a window
of whole iterations, the device synchronized only at its two ends, while a background thread
samples the GPU's utilization and memory; a loader row runs the data pipeline of
:mod:`benchmarks.pipeline` with no model. :mod:`benchmarks.gpu` plans the rows, fits them to the
budget and writes the report.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import lightning
import torch

from benchmarks import common, pipeline, train_step
from benchmarks.photos import synthesize_photos
from colorize.models.patchgan import PatchGAN
from colorize.models.unet import UNet
from colorize.training.module import ColorizationGAN

#: --quick's networks: the UNet at tiny widths (as tests/tiny_runs.py); ResNetUNet has no width knob, and its
#: ResNet18 at 32 px costs next to nothing anyway.
TINY_GENERATORS: dict[str, Callable[[], torch.nn.Module]] = {
    "UNet": lambda: UNet(base_width=4, depth=2),
    "ResNet18 UNet": train_step.GENERATORS["ResNet18 UNet"],
}
#: Loader photos: COCO-sized (the paper's data set), so decoding and resizing cost what they cost in training.
PHOTO_SIZE = (640, 480)


# ---------------------------------------------------------------------------- the rows


@dataclasses.dataclass(frozen=True)
class TrainRow:
    """One training configuration: a generator at one batch size in one mode."""

    generator: str
    batch: int
    mode: train_step.Mode

    @property
    def kind(self) -> str:
        return "compile" if self.mode.compile else "train"

    @property
    def alike(self) -> str:
        """Rows that take about as long: eager rows all do; a compilation's time depends on the generator."""
        return f"compile {self.generator}" if self.mode.compile else "train"

    @property
    def label(self) -> str:
        return f"{self.generator}, batch {self.batch}, {self.mode.name}"


@dataclasses.dataclass(frozen=True)
class LoaderRow:
    """The data pipeline alone with ``workers`` loader processes."""

    workers: int
    batch: int
    kind = alike = "loader"

    @property
    def label(self) -> str:
        return f"loader alone, {self.workers} workers, batch {self.batch}"


Row = TrainRow | LoaderRow


# ---------------------------------------------------------------------------- GPU utilization


def utilization_reader(device: torch.device) -> tuple[str, Callable[[], tuple[float, float | None]] | None]:
    """How to read (utilization %, memory used MiB) of ``device``, and the source's name; None when nothing can.

    ``nvidia-smi`` first (it also reports memory held by the caching allocator and other processes),
    then NVML through ``torch.cuda.utilization``; each is tried once here, so a broken one is never sampled.
    """
    if device.type != "cuda":
        return "n/a (no CUDA device)", None
    smi = shutil.which("nvidia-smi")
    if smi:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")
        index = device.index or 0
        # nvidia-smi numbers GPUs physically; torch numbers the visible ones.
        gpu = visible[index].strip() if index < len(visible) and visible[index].strip() else str(index)
        query = [smi, "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits", "-i", gpu]

        def read_smi() -> tuple[float, float | None]:
            out = subprocess.run(query, capture_output=True, text=True, timeout=5, check=True).stdout
            utilization, memory = out.strip().splitlines()[0].split(",")
            return float(utilization), float(memory)

        try:
            read_smi()
            return "nvidia-smi", read_smi
        except (OSError, subprocess.SubprocessError, ValueError, IndexError):
            pass
    try:
        torch.cuda.utilization(device)
    except Exception:  # no pynvml, no NVML, or a driver that refuses: all mean "n/a"
        return "n/a (no nvidia-smi, no NVML)", None
    return "torch.cuda.utilization (NVML)", lambda: (float(torch.cuda.utilization(device)), None)


class UtilizationSampler:
    """Samples a reader every ``interval`` seconds in a background thread between ``start()`` and ``stop()``."""

    def __init__(self, read: Callable[[], tuple[float, float | None]] | None, interval: float = 0.2):
        self.read, self.interval = read, interval
        self.samples: list[tuple[float, float | None]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.read is not None:
            self._thread = threading.Thread(target=self._run, name="gpu-utilization", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        # Wait first: nvidia-smi's figure covers its last sample period, which before the window was warm-up.
        while not self._stop.wait(self.interval):
            try:
                self.samples.append(self.read())
            except Exception:  # a missed sample is not worth stopping the benchmark
                continue

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def mean_utilization(self) -> float | None:
        return statistics.mean(u for u, _ in self.samples) if self.samples else None

    def max_memory(self) -> float | None:
        memory = [m for _, m in self.samples if m is not None]
        return max(memory) if memory else None


# ---------------------------------------------------------------------------- training


class WindowTimer(lightning.Callback):
    """Times whole GAN iterations after ``warmup`` untimed ones, syncing the device only at the window's ends.

    The window closes (and asks the trainer to stop) once it holds ``min_iterations`` and
    ``min_seconds``, or ``max_iterations``. Per-batch syncs would idle the GPU while the CPU
    launches the next step, and lower both the throughput and the utilization measured.
    """

    def __init__(self, device: torch.device, warmup: int, iterations: tuple[int, int], min_seconds: float, sampler):
        self.device, self.warmup, self.min_seconds, self.sampler = device, warmup, min_seconds, sampler
        self.min_iterations, self.max_iterations = iterations
        self.first = self.start = self.end = None
        self.iterations = self.images = 0

    def _open(self) -> None:
        common.synchronize(self.device)
        self.start = time.perf_counter()
        self.sampler.start()

    def _close(self) -> None:
        common.synchronize(self.device)
        self.end = time.perf_counter()
        self.sampler.stop()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx == 0:
            common.synchronize(self.device)
            self.first = time.perf_counter()
        if batch_idx == self.warmup:
            self._open()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.start is None or self.end is not None:
            return
        self.iterations += 1
        self.images += int(batch["L"].shape[0])
        enough = self.iterations >= self.min_iterations and time.perf_counter() - self.start >= self.min_seconds
        if enough or self.iterations >= self.max_iterations:
            self._close()
            trainer.should_stop = True

    def on_train_end(self, trainer, pl_module) -> None:
        if self.start is not None and self.end is None:  # the loader ran out first
            self._close()


def build_module(row: TrainRow, tiny: bool) -> ColorizationGAN:
    """The GAN of ``row``: the networks of :mod:`benchmarks.train_step` (or tiny ones), compiled in place if asked."""
    if tiny:
        return train_step.make_module(
            row.generator, row.mode, TINY_GENERATORS, lambda: PatchGAN(base_width=4, num_layers=2)
        )
    return train_step.make_module(row.generator, row.mode)


def measure_training(row: TrainRow, args: argparse.Namespace, device: torch.device, reader) -> dict:
    """Images/s and s/iteration over the timed window, warm-up seconds, peak memory and GPU utilization."""
    torch._dynamo.reset()  # no compiled graphs, guards or dynamic-shape guesses carried over from another row
    common.reset_peak_memory(device)
    module, sampler = build_module(row, args.quick), UtilizationSampler(reader)
    iterations = (args.min_iterations, args.max_iterations)
    timer = WindowTimer(device, args.warmup, iterations, args.min_seconds, sampler)
    shape = {"batch_size": row.batch, "image_size": args.image_size, "warmup": args.warmup}
    batches = train_step.synthetic_batches(shape | {"iterations": args.max_iterations}, device)
    with tempfile.TemporaryDirectory() as root:
        train_step.make_trainer(row.mode, device, len(batches), timer, root).fit(module, train_dataloaders=batches)
    seconds = timer.end - timer.start
    return {
        "images_per_s": timer.images / seconds,
        "s_per_iteration": seconds / timer.iterations,
        "iterations": timer.iterations,
        "warmup_s": timer.start - timer.first,
        "peak_mib": common.peak_memory_mib(device),
        "utilization": sampler.mean_utilization(),
        "smi_memory_mib": sampler.max_memory(),
    }


# ---------------------------------------------------------------------------- the loader


def loader_photos(scratch: Path, row: LoaderRow, unique: int) -> list[Path]:
    """Enough photos for an epoch of ``2 × workers`` batches (4 at least), so every worker has work.

    A few synthesized JPEGs repeated: every item is decoded and resized all the same (from the page cache).
    """
    photos = sorted(scratch.glob("photo_*.jpg")) or synthesize_photos(scratch, unique, PHOTO_SIZE)
    count = row.batch * max(4, 2 * row.workers)
    return [photos[i % len(photos)] for i in range(count)]


def measure_loader(row: LoaderRow, args: argparse.Namespace, device: torch.device, scratch: Path) -> dict:
    """Images/s of photos -> workers -> transfer -> kornia Lab on the device, no model (``loader_alone_rates``)."""
    paths = loader_photos(scratch, row, 4 if args.quick else 32)
    dm = pipeline.FolderDataModule(paths, image_size=args.image_size, batch_size=row.batch, num_workers=row.workers)
    dm.setup("fit")
    convert = functools.partial(dm.on_after_batch_transfer, dataloader_idx=0)
    rates = pipeline.loader_alone_rates(dm.train_dataloader(), device, convert, args.loader_seconds)
    return {"images_per_s": statistics.median(rates), "epochs": len(rates)}
