"""`make bench`: training throughput, memory, data pipeline, Lab conversion, inference latency, start-up.

    python -m benchmarks.bench                       # the full run (a few minutes on a 2-core CPU)
    python -m benchmarks.bench --quick --output /tmp/r.md   # seconds: 32 px, batch 2, 1 iteration

Every training number drives the real :meth:`colorize.training.module.ColorizationGAN.training_step` (one D
step then one G step, manual optimization) under ``lightning.Trainer.fit``; a callback times each
batch between ``on_train_batch_start`` and ``on_train_batch_end`` (model only) or between
consecutive ``on_train_batch_end`` (pipeline: loading, conversion and the step). Each training
configuration runs in a fresh subprocess, so its peak memory (``ru_maxrss`` on CPU,
``torch.cuda.max_memory_allocated`` on CUDA) is its own, not the process's lifetime peak.

The *reference setup* is the paper's tutorial code: the dataset converts each photo to Lab with
``skimage.color.rgb2lab`` on the CPU, and training runs in fp32. *Our default training
configuration* hands uint8 batches to the device, converts them there with kornia
(:class:`colorize.data.datamodule.ColorizationDataModule`), and trains in bf16 autocast with
channels-last memory. Targets are stated in the report, never asserted.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a hub lookup with no network stalls ~46 s

import lightning  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402

from colorize.color import rgb_to_normalized_lab  # noqa: E402
from colorize.data.datamodule import ColorizationDataModule  # noqa: E402
from colorize.data.dataset import PhotoDataset, _to_tensor  # noqa: E402
from colorize.data.images import PHOTO_FORMATS, find_images, load_rgb  # noqa: E402
from colorize.inference.full_resolution import colorize_image, working_size  # noqa: E402
from colorize.models.patchgan import PatchGAN  # noqa: E402
from colorize.models.resnet_unet import ResNetUNet  # noqa: E402
from colorize.models.unet import UNet  # noqa: E402
from colorize.training.module import ColorizationGAN  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SAMPLE_DIR = REPO / "data" / "sample"
DEFAULT_OUTPUT = REPO / "benchmarks" / "RESULTS.md"

GENERATORS: dict[str, Callable[[], torch.nn.Module]] = {
    "UNet": UNet,
    "ResNet18 UNet": lambda: ResNetUNet("resnet18", pretrained=False),
}

#: The fastest UNet pipeline against the reference setup (the speed issue's bars): AMX does bf16 matrix
#: products in hardware tiles, AVX-512 BF16 only in vector registers, so the two kinds of CPU get their own bar.
TARGET_PIPELINE_SPEEDUP = {"AMX": 6.0, "no AMX": 3.5, "cuda": 3.5}
TARGET_FASTEST_VS_FP32 = 3.0
TARGET_STARTUP_EXTRA_S = 1.0


@dataclasses.dataclass(frozen=True)
class Mode:
    """How the GAN is trained: Lightning precision, memory format, and whether G and D are compiled."""

    name: str
    precision: str
    channels_last: bool
    compile: bool = False


FP32 = Mode("fp32", "32-true", channels_last=False)
BF16_CL = Mode("bf16 + channels_last", "bf16-mixed", channels_last=True)
BF16_CL_COMPILE = Mode("bf16 + channels_last + torch.compile", "bf16-mixed", channels_last=True, compile=True)
MODES = {m.name: m for m in (FP32, BF16_CL, BF16_CL_COMPILE)}


# ---------------------------------------------------------------------------- the machine


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available")
    return torch.device(name)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cpu_description() -> str:
    """CPU model from /proc/cpuinfo, logical CPUs, and the ISA features that decide bf16 speed."""
    model, flags = platform.processor() or "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    bf16 = [f for f in ("avx512_bf16", "amx_bf16") if f in flags] or ["no native bf16"]
    capability = torch.backends.cpu.get_cpu_capability()
    return f"{model} ({os.cpu_count()} logical CPUs; torch kernels: {capability}; {', '.join(bf16)})"


def cpu_kind() -> str:
    """ "AMX" or "no AMX": which of the speed targets applies to this CPU."""
    try:
        return "AMX" if "amx_bf16" in Path("/proc/cpuinfo").read_text() else "no AMX"
    except OSError:
        return "no AMX"


def cpu_pressure() -> str:
    """Share of time some runnable task waited for a CPU (Linux PSI): how contended the machine was."""
    try:
        fields = dict(f.split("=") for f in Path("/proc/pressure/cpu").read_text().splitlines()[0].split()[1:])
    except (OSError, IndexError, ValueError):
        return "n/a"
    return f"{fields['avg60']} % / {fields['avg300']} %"


def machine_info(device: torch.device) -> dict[str, str]:
    accelerator = torch.cuda.get_device_name(device) if device.type == "cuda" else "none (CPU only)"
    return {
        "CPU": cpu_description(),
        "CPU kind": f"{cpu_kind()} (`lscpu` lists amx_bf16 or not)",
        "device": f"{device.type} — {accelerator}",
        "torch": f"{torch.__version__}, {torch.get_num_threads()} intra-op threads",
        "lightning": lightning.__version__,
        "load average at start (1 min)": f"{os.getloadavg()[0]:.2f}",
    }


# ---------------------------------------------------------------------------- photos


def synthesize_photos(folder: Path, count: int, size: tuple[int, int] = (320, 240)) -> list[Path]:
    """``count`` smooth, colorful ``size`` JPEGs (gradients and discs), like downscaled photos."""
    rng = np.random.default_rng(0)
    width, height = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    paths = []
    for i in range(count):
        freq = rng.uniform(0.005, 0.05, size=(3, 2))
        phase = rng.uniform(0, 6.28, size=3)
        image = np.stack(
            [0.5 + 0.45 * np.sin(fy * y + fx * x + p) for (fy, fx), p in zip(freq, phase, strict=True)], axis=-1
        )
        for _ in range(4):
            cy, cx, r = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(10, 60)
            image[(y - cy) ** 2 + (x - cx) ** 2 < r**2] = rng.uniform(0, 1, size=3)
        path = folder / f"photo_{i:03d}.jpg"
        Image.fromarray((image * 255).round().astype(np.uint8)).save(path, quality=90)
        paths.append(path)
    return paths


def photo_paths(count: int, scratch: Path) -> tuple[list[Path], str]:
    """The first ``count`` photos of data/sample (sorted), or synthesized JPEGs; and where they came from."""
    if SAMPLE_DIR.is_dir():
        found = find_images(SAMPLE_DIR)
        if len(found) >= count:
            return found[:count], f"the first {count} photos of {SAMPLE_DIR.relative_to(REPO)}"
    return synthesize_photos(scratch, count), f"{count} synthesized 320×240 JPEGs"


def photo_of_size(width: int, height: int, scratch: Path) -> torch.Tensor:
    """A uint8 ``(3, height, width)`` photo: a sample photo of exactly that size if there is one."""
    if SAMPLE_DIR.is_dir():
        for path in find_images(SAMPLE_DIR):
            with Image.open(path, formats=PHOTO_FORMATS) as image:
                if image.size == (width, height):
                    return _to_tensor(load_rgb(path))
    image = load_rgb(photo_paths(1, scratch)[0][0]).resize((width, height), Image.Resampling.BICUBIC)
    return _to_tensor(image)


# ---------------------------------------------------------------------------- the reference pipeline


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


# ---------------------------------------------------------------------------- the training harness


class StepTimer(lightning.Callback):
    """Wall-clock time of each training batch, the device synchronized at both ends."""

    def __init__(self, device: torch.device):
        self.device = device
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.images: list[int] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        synchronize(self.device)
        self.starts.append(time.perf_counter())

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        synchronize(self.device)
        self.ends.append(time.perf_counter())
        self.images.append(int(batch["L"].shape[0]))

    def step_rates(self, warmup: int) -> list[float]:
        """Images/s of the model step alone, per batch after ``warmup`` batches."""
        return [n / (e - s) for n, s, e in zip(self.images, self.starts, self.ends, strict=True)][warmup:]

    def pipeline_rates(self, warmup: int) -> list[float]:
        """Images/s from one batch's end to the next (loading, transfer, conversion, step), after ``warmup``."""
        rates = [self.images[i] / (self.ends[i] - self.ends[i - 1]) for i in range(1, len(self.ends))]
        return rates[max(warmup - 1, 0) :]


def make_module(
    generator: str,
    mode: Mode,
    generators: dict[str, Callable[[], torch.nn.Module]] = GENERATORS,
    discriminator: Callable[[], torch.nn.Module] = PatchGAN,
) -> ColorizationGAN:
    """The GAN with ``generators[generator]`` in ``mode``; other scripts pass smaller networks for their quick runs."""
    torch.manual_seed(0)
    return ColorizationGAN(
        generators[generator](), discriminator(), channels_last=mode.channels_last, compile=mode.compile
    )


def make_trainer(
    mode: Mode, device: torch.device, batches: int, timer: lightning.Callback, root: str
) -> lightning.Trainer:
    return lightning.Trainer(
        accelerator="cuda" if device.type == "cuda" else "cpu",
        devices=1,
        precision=mode.precision,
        max_epochs=1,
        limit_train_batches=batches,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
        default_root_dir=root,
    )


def count_flops(generator: str, image_size: int, batch_size: int) -> int:
    """FLOPs of one GAN iteration, counted once by ``torch.utils.flop_counter`` (convolutions and matmuls).

    The iteration of :meth:`ColorizationGAN.training_step`, reproduced outside Lightning on an fp32
    module (the count depends on the shapes, not on the precision): G forward, D on real and on the
    detached fake with its backward, D on the fake again with G's backward through it.
    """
    from torch.utils.flop_counter import FlopCounterMode

    # On the meta device: shapes only, no arithmetic, so counting a 256 px batch takes no time.
    with torch.device("meta"):
        module = make_module(generator, FP32)
        L = torch.zeros(batch_size, 1, image_size, image_size)
        ab = torch.zeros(batch_size, 2, image_size, image_size)
    with FlopCounterMode(display=False) as counter:
        fake = module.generator(L)
        d_real = module.discriminator(torch.cat([L, ab], 1))
        d_fake = module.discriminator(torch.cat([L, fake.detach()], 1))
        (d_real.mean() + d_fake.mean()).backward()
        (module.discriminator(torch.cat([L, fake], 1)).mean() + (fake - ab).abs().mean()).backward()
    return counter.get_total_flops()


def conv_peak_tflops(device: torch.device, dtype: torch.dtype, size: int = 64, repeats: int = 5) -> float:
    """TFLOP/s of one large 3×3 convolution (16 × 256 channels × ``size``², channels-last) in ``dtype``.

    The practical peak a training iteration is measured against: a CPU's datasheet peak depends on
    clocks a virtual machine does not show, and a matrix product is no fair yardstick either (on
    the 2-core AMD EPYC here torch's fp32 matmul reaches half of what oneDNN's fp32 convolution
    does). The densest kernel of the GAN itself, at its best shape, is.
    """
    x = torch.randn(16, 256, size, size, device=device).to(dtype).contiguous(memory_format=torch.channels_last)
    w = torch.randn(256, 256, 3, 3, device=device).to(dtype).contiguous(memory_format=torch.channels_last)
    seconds = median_time(lambda: torch.nn.functional.conv2d(x, w, padding=1), repeats, device)
    return 2 * 16 * 256 * 256 * 9 * size * size / seconds / 1e12


def reset_peak_memory(device: torch.device) -> float:
    """Start a peak-memory window; returns the process RSS (MiB) at its start on CPU, 0 on CUDA."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return 0.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_memory_mib(device: torch.device) -> float:
    """CUDA: peak allocated tensor memory. CPU: the process's peak RSS (Linux reports KiB)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic_batches(cfg: dict, device: torch.device) -> DataLoader:
    """Already-converted batches on the device, so only the model step is timed."""
    g = torch.Generator().manual_seed(0)
    shape = (cfg["batch_size"], 1, cfg["image_size"], cfg["image_size"])
    L = (torch.rand(shape, generator=g) * 2 - 1).to(device)
    ab = (torch.rand((shape[0], 2, *shape[2:]), generator=g) - 0.5).to(device)
    # batch_size=None: the loader yields the list's items as they are.
    return DataLoader([{"L": L, "ab": ab}] * (cfg["warmup"] + cfg["iterations"]), batch_size=None)


def measure_training(cfg: dict) -> dict:
    """Images/s of one GAN iteration (D step + G step) and the peak memory, for one generator and mode."""
    device, mode = torch.device(cfg["device"]), MODES[cfg["mode"]]
    idle = reset_peak_memory(device)
    module, timer = make_module(cfg["generator"], mode), StepTimer(device)
    batches = synthetic_batches(cfg, device)
    with tempfile.TemporaryDirectory() as root:
        make_trainer(mode, device, len(batches), timer, root).fit(module, train_dataloaders=batches)
    warmup = cfg["warmup"]
    warmup_s = sum(e - s for s, e in zip(timer.starts[:warmup], timer.ends[:warmup], strict=True))
    return {
        "rates": timer.step_rates(cfg["warmup"]),
        "warmup_s": warmup_s,
        "peak_mib": peak_memory_mib(device),
        "idle_mib": idle,
    }


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


def quiet_lightning() -> None:
    """No banners ("GPU available: ...") or advice (few workers, small batches) in the benchmark's output."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="lightning")


WORKERS = {"train": measure_training, "pipeline": measure_pipeline}


def run_worker(config_path: str) -> None:
    """Subprocess entry point: run one measurement, write its result next to its config."""
    quiet_lightning()
    cfg = json.loads(Path(config_path).read_text())
    result = WORKERS[cfg["task"]](cfg)
    Path(config_path).with_suffix(".out.json").write_text(json.dumps(result))


def run_config(cfg: dict, isolate: bool) -> dict:
    """One measurement in a fresh Python process (its own peak memory), or in this one."""
    if not isolate:
        with warnings.catch_warnings():
            quiet_lightning()
            return WORKERS[cfg["task"]](cfg)
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.json"
        config.write_text(json.dumps(cfg))
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--worker", str(config)],
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        if proc.returncode:
            raise RuntimeError(
                f"benchmark worker failed on {cfg['task']} {cfg.get('generator')}:\n{proc.stderr[-4000:]}"
            )
        return json.loads(config.with_suffix(".out.json").read_text())


# ---------------------------------------------------------------------------- single-process measurements


def median_time(fn: Callable[[], object], repeats: int, device: torch.device, warmup: int = 1) -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls after ``warmup`` untimed ones."""
    times = []
    for i in range(warmup + repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_rounds(configs: dict[Hashable, dict], rounds: int, isolate: bool) -> dict[Hashable, dict[str, float]]:
    """Run every configuration ``rounds`` times, interleaved (A B A B), and pool the rounds.

    A burst of load from other processes then slows every configuration a little rather than one a lot.
    Throughputs are medians of all the rounds' timed batches; memory is the largest round's.
    """
    runs: dict[Hashable, list[dict]] = {key: [] for key in configs}
    for _ in range(rounds):
        for key, cfg in configs.items():
            runs[key].append(run_config(cfg, isolate))
    pooled = {}
    for key, results in runs.items():
        pooled[key] = {
            "images_per_s": statistics.median(x for r in results for x in r["rates"]),
            "peak_mib": max(r["peak_mib"] for r in results),
            "growth_mib": max(r["peak_mib"] - r["idle_mib"] for r in results),
        }
        if "warmup_s" in results[0]:
            pooled[key]["warmup_s"] = statistics.median(r["warmup_s"] for r in results)
        if "loader_rates" in results[0]:
            pooled[key]["loader_images_per_s"] = statistics.median(x for r in results for x in r["loader_rates"])
    return pooled


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


def measure_inference(generator: str, image: torch.Tensor, target: int, device: torch.device, repeats: int) -> dict:
    """Seconds for :func:`colorize_image` on one photo at full resolution, and the size G runs at.

    With its defaults, as ``colorize predict`` runs it: bf16 autocast on the CPU and CUDA.
    """
    torch.manual_seed(0)
    net = GENERATORS[generator]().to(device)
    height, width = image.shape[-2:]
    h, w = working_size(height, width, target, int(net.stride))
    seconds = median_time(lambda: colorize_image(net, image, target_size=target), repeats, device)
    return {"input": f"{width}×{height}", "working": f"{w}×{h}", "seconds": seconds}


def measure_startup(repeats: int) -> dict[str, float]:
    """Median wall seconds of ``colorize --help`` and ``python -c 'import lightning'``, interleaved."""
    script = Path(sys.executable).parent / "colorize"
    colorize = [str(script), "--help"] if script.exists() else [sys.executable, "-m", "colorize.cli", "--help"]
    commands = {"import lightning": [sys.executable, "-c", "import lightning"], "colorize --help": colorize}
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, command in commands.items():
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True, cwd=REPO)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


# ---------------------------------------------------------------------------- the report


def fmt(value: float) -> str:
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


def ratio(value: float) -> str:
    """A speed-up with three significant digits: a tiny or contended quick run must not print 0.0×."""
    return f"{value:.3g}×"


def publish(report: str, output: Path | None) -> None:
    """Write a benchmark's Markdown report to ``output`` (if any) and print it: a script's output, not logging."""
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(report)
    print(report)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def mark(ok: bool) -> str:
    return "✔" if ok else "✘"


PEAK_CONV_SIZE = 64


def compile_break_even(modes: dict, batch_size: int) -> str:
    """Iterations after which compiling has paid for itself (its extra warm-up over the time it saves), or ""."""
    if BF16_CL_COMPILE.name not in modes:
        return ""
    plain, compiled = modes[BF16_CL.name], modes[BF16_CL_COMPILE.name]
    saved = batch_size / plain["images_per_s"] - batch_size / compiled["images_per_s"]
    if saved <= 0:
        return "never (no faster per iteration)"
    # The compiled configuration warms up one iteration more: count that iteration at its compiled speed.
    extra = compiled["warmup_s"] - batch_size / compiled["images_per_s"] - plain["warmup_s"]
    return f"{max(extra, 0.0) / saved:.0f}"


def training_modes(modes: dict) -> dict[str, dict]:
    """A generator's measured configurations, without its FLOP count."""
    return {name: m for name, m in modes.items() if name != "flops"}


def render(r: dict) -> str:
    a = r["args"]
    memory = "peak CUDA memory allocated (MiB)" if a["device"] == "cuda" else "peak RSS (MiB)"
    isolation = (
        "each configuration in a fresh process"
        if a["isolate"]
        else "**in one process: peak RSS is the lifetime peak so far, not per configuration**"
    )
    out = [
        "# colorize benchmarks",
        "",
        f"`{r['command']}` — {r['date']}, {r['elapsed_s']:.0f} s. Timings on a shared machine are noisy: compare "
        "rows of this file, measured in the same run.",
        "",
        "## Machine",
        "",
        table(["", ""], [[k, v] for k, v in r["machine"].items()]),
        "",
        f"## Training throughput: {a['image_size']} px, batch {a['batch_size']}",
        "",
        f"One GAN iteration = `ColorizationGAN.training_step` under `Trainer.fit` (one D step, then one G step, "
        f"Adam), timed from batch start to batch end on already-converted batches; median of {a['iterations']} "
        f"batches after {a['warmup']} warm-up, pooled over {a['rounds']} interleaved round(s); {isolation}.",
        "",
    ]
    # In a fresh process the growth over the RSS at start (imports done) is the configuration's own.
    growth = a["isolate"] and a["device"] == "cpu"
    header = ["generator", "configuration", "images/s", "speed-up vs fp32", "TFLOP/s", "share of conv peak"]
    header += ["warm-up s", memory]
    header += ["RSS growth (MiB)"] * growth
    rows = []
    peaks = r["conv_peak"]
    for gen, modes in r["training"].items():
        base = modes[FP32.name]["images_per_s"]
        for name, m in training_modes(modes).items():
            peak = peaks["fp32"] if name == FP32.name else peaks["bf16"]
            row = [gen, name, fmt(m["images_per_s"]), ratio(m["images_per_s"] / base), f"{m['tflops']:.3f}"]
            row += [f"{100 * m['tflops'] / peak:.0f} %", fmt(m["warmup_s"]), fmt(m["peak_mib"])]
            rows.append(row + [fmt(m["growth_mib"])] * growth)
    flops = ", ".join(f"{gen} {modes['flops'] / 1e12:.2f}" for gen, modes in r["training"].items())
    break_even = [
        f"{gen}: {n}" for gen, modes in r["training"].items() if (n := compile_break_even(modes, a["batch_size"]))
    ]
    out += [
        table(header, rows),
        "",
        f"TFLOP per iteration (`torch.utils.flop_counter`, convolutions and matrix products): {flops}. "
        f"Conv peak: one 3×3 convolution, 16 × 256 → 256 channels at {r['peak_conv_size']}², channels-last, on "
        f"this machine: {peaks['bf16']:.3f} TFLOP/s in bf16 and {peaks['fp32']:.3f} in fp32. *Warm-up s*: the "
        "untimed first iterations (a compiled configuration compiles there)."
        + (
            f" torch.compile pays for its compilation after this many iterations: {'; '.join(break_even)}."
            * bool(break_even)
        ),
        "",
    ]

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
    out += [
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

    c = r["conversion"]
    n, s = a["convert_batch"], a["convert_size"]
    out += [
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
        f"## Inference latency: `colorize_image` (bf16 autocast on CPU and CUDA), target size {a['inference_target']}",
        "",
        f"One photo at full resolution (L and the output at the input's size); median of {a['repeats']} after 1 "
        "warm-up.",
        "",
    ]
    rows = [
        [gen, row["input"], row["working"], fmt(row["seconds"] * 1e3)]
        for gen, inputs in r["inference"].items()
        for row in inputs
    ]
    out += [table(["generator", "input (W×H)", "generator runs at (W×H)", "latency (ms)"], rows), ""]

    st = r["startup"]
    extra = st["colorize --help"] - st["import lightning"]
    out += [
        f"## Start-up: median of {a['startup_repeats']}, interleaved",
        "",
        table(
            ["command", "seconds"],
            [
                ['`python -c "import lightning"`', f"{st['import lightning']:.2f}"],
                ["`colorize --help`", f"{st['colorize --help']:.2f}"],
            ],
        ),
        "",
    ]

    kind = "cuda" if a["device"] == "cuda" else cpu_kind()
    bar = TARGET_PIPELINE_SPEEDUP[kind]
    fastest_name, fastest = max(
        ((k, v) for k, v in p.items() if k in ("ours", "fastest")), key=lambda kv: kv[1]["images_per_s"]
    )
    speedup = fastest["images_per_s"] / ref["images_per_s"]
    targets = [
        [
            f"fastest configuration ({'+ compile' if fastest_name == 'fastest' else 'bf16 + channels_last'}) "
            f"≥ {bar:g}× the reference setup, {a['pipeline_generator']}, loading included ({kind})",
            ratio(speedup),
            mark(speedup >= bar),
        ]
    ]
    for gen, modes in r["training"].items():
        measured = training_modes(modes)
        best = max(measured, key=lambda name: measured[name]["images_per_s"])
        speedup_best = measured[best]["images_per_s"] / measured[FP32.name]["images_per_s"]
        targets.append(
            [
                f"fastest configuration ({best}) ≥ {TARGET_FASTEST_VS_FP32:g}× fp32, {gen}",
                ratio(speedup_best),
                mark(speedup_best >= TARGET_FASTEST_VS_FP32),
            ]
        )
    targets.append(
        [
            f"`colorize --help` ≤ {TARGET_STARTUP_EXTRA_S:g} s slower than `import lightning`",
            f"{extra:+.2f} s",
            mark(extra <= TARGET_STARTUP_EXTRA_S),
        ]
    )
    out += ["## Targets", "", table(["target", "measured", "met"], targets), ""]
    return "\n".join(out)


# ---------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--quick", action="store_true", help="tiny smoke run: 32 px, batch 2, 1 iteration, in-process")
    parser.add_argument("--image-size", type=int, help="training side in px (default 256, the paper's)")
    parser.add_argument("--batch-size", type=int, help="training batch (default 16, the paper's)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed training iterations")
    parser.add_argument("--iterations", type=int, default=3, help="timed training iterations (median)")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved runs of each training configuration")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats of inference (median)")
    parser.add_argument("--convert-repeats", type=int, default=10, help="timed repeats of the Lab conversion")
    parser.add_argument("--convert-batch", type=int, default=16)
    parser.add_argument("--convert-size", type=int, default=256)
    parser.add_argument("--inference-target", type=int, default=256, help="colorize_image's target_size")
    parser.add_argument("--startup-repeats", type=int, default=3)
    parser.add_argument("--num-workers", type=int, default=2, help="loader workers of both pipelines")
    parser.add_argument("--pipeline-generator", choices=list(GENERATORS), default="UNet")
    parser.add_argument(
        "--no-compile", dest="compile", action="store_false", help="skip the torch.compile rows (their compile time)"
    )
    parser.add_argument(
        "--no-isolate", dest="isolate", action="store_false", help="run every configuration in this process"
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.image_size, args.batch_size, args.warmup, args.iterations = 32, 2, 1, 1
        args.repeats, args.convert_batch, args.convert_size, args.inference_target = 1, 2, 32, 32
        args.rounds, args.convert_repeats, args.startup_repeats, args.num_workers, args.isolate = 1, 1, 1, 0, False
        args.compile = False  # compiling takes a minute even for 32 px; tests/test_module.py tests it
    return args


def main(argv: Sequence[str] | None = None) -> dict:
    """Run every measurement, print the Markdown report and write it to ``--output``; returns the raw results."""
    args = parse_args(argv)
    if args.worker:
        run_worker(args.worker)
        return {}
    device = resolve_device(args.device)
    args.image_size = args.image_size or 256
    args.batch_size = args.batch_size or 16
    args.device = device.type
    started = time.perf_counter()
    results: dict = {"args": vars(args) | {"output": str(args.output)}, "machine": machine_info(device)}
    results["training"] = training_results(args)
    results["peak_conv_size"] = 8 if args.quick else PEAK_CONV_SIZE
    results["conv_peak"] = {
        name: conv_peak_tflops(device, dtype, results["peak_conv_size"])
        for name, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32))
    }
    with tempfile.TemporaryDirectory() as scratch:
        results["pipeline"] = pipeline_results(args, Path(scratch))
        convert_paths, _ = photo_paths(args.convert_batch, Path(scratch))
        results["conversion"] = measure_conversion(convert_paths, args.convert_size, device, args.convert_repeats)
        results["inference"] = inference_results(args, device, Path(scratch))
    results["startup"] = measure_startup(args.startup_repeats)
    results["machine"]["CPU pressure during the run (PSI some, avg60 / avg300)"] = cpu_pressure()
    results["elapsed_s"] = time.perf_counter() - started
    results["date"] = time.strftime("%Y-%m-%d %H:%M")
    results["command"] = " ".join(["python -m benchmarks.bench", *(sys.argv[1:] if argv is None else argv)])
    publish(render(results), args.output)
    return results


def training_results(args: argparse.Namespace) -> dict[str, dict[str, dict]]:
    """Model-only throughput and memory of every generator in every mode."""
    common = {k: getattr(args, k) for k in ("image_size", "batch_size", "warmup", "iterations", "device")}
    modes = [FP32, BF16_CL] + ([BF16_CL_COMPILE] if args.compile else [])
    # A compiled configuration compiles in its first iterations (train and frozen-D variants): one more warm-up.
    configs = {
        (gen, m.name): {**common, "task": "train", "generator": gen, "mode": m.name, "warmup": args.warmup + m.compile}
        for gen in GENERATORS
        for m in modes
    }
    pooled = run_rounds(configs, args.rounds, args.isolate)
    flops = {gen: count_flops(gen, args.image_size, args.batch_size) for gen in GENERATORS}
    for (gen, _), result in pooled.items():
        result["tflops"] = flops[gen] * result["images_per_s"] / args.batch_size / 1e12
    return {gen: {m.name: pooled[gen, m.name] for m in modes} | {"flops": flops[gen]} for gen in GENERATORS}


def pipeline_results(args: argparse.Namespace, scratch: Path) -> dict:
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
    return {"source": source} | run_rounds(configs, args.rounds, args.isolate)


def inference_results(args: argparse.Namespace, device: torch.device, scratch: Path) -> dict[str, list[dict]]:
    """Latency of a square training-size image and of a 4:3 photograph (1024×768 by default), per generator."""
    t = args.inference_target
    images = [photo_of_size(t, t, scratch), photo_of_size(4 * t, 3 * t, scratch)]
    return {gen: [measure_inference(gen, image, t, device, args.repeats) for image in images] for gen in GENERATORS}


if __name__ == "__main__":
    main()
