"""The training step: images/s of one GAN iteration in fp32, bf16 + channels_last and + torch.compile.

One GAN iteration is the real :meth:`colorize.training.module.ColorizationGAN.training_step` (one D
step then one G step, manual optimization) under ``lightning.Trainer.fit``, fed already-converted
batches so that only the model step is timed. Its FLOPs are counted once with
``torch.utils.flop_counter``, and set against the practical peak of this machine: one large
convolution. The GAN, its modes and its trainer are built here for every script that trains
(:mod:`benchmarks.pipeline`, :mod:`benchmarks.gpu`, :mod:`benchmarks.op_profile`).
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from collections.abc import Callable

import lightning
import torch
from torch.utils.data import DataLoader

from benchmarks.common import (
    StepTimer,
    fmt,
    median_time,
    peak_memory_mib,
    ratio,
    reset_peak_memory,
    run_rounds,
    table,
)
from colorize.models.patchgan import PatchGAN
from colorize.models.resnet_unet import ResNetUNet
from colorize.models.unet import UNet
from colorize.training.module import ColorizationGAN

GENERATORS: dict[str, Callable[[], torch.nn.Module]] = {
    "UNet": UNet,
    "ResNet18 UNet": lambda: ResNetUNet("resnet18", pretrained=False),
}


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

#: Side of the conv-peak convolution's input (--quick: 8).
PEAK_CONV_SIZE = 64


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


def training_results(args: argparse.Namespace, run: Callable[[dict], dict]) -> dict[str, dict[str, dict]]:
    """Model-only throughput and memory of every generator in every mode; ``run`` runs one configuration."""
    common = {k: getattr(args, k) for k in ("image_size", "batch_size", "warmup", "iterations", "device")}
    modes = [FP32, BF16_CL] + ([BF16_CL_COMPILE] if args.compile else [])
    # A compiled configuration compiles in its first iterations (train and frozen-D variants): one more warm-up.
    configs = {
        (gen, m.name): {**common, "task": "train", "generator": gen, "mode": m.name, "warmup": args.warmup + m.compile}
        for gen in GENERATORS
        for m in modes
    }
    pooled = run_rounds(configs, args.rounds, run)
    flops = {gen: count_flops(gen, args.image_size, args.batch_size) for gen in GENERATORS}
    for (gen, _), result in pooled.items():
        result["tflops"] = flops[gen] * result["images_per_s"] / args.batch_size / 1e12
    return {gen: {m.name: pooled[gen, m.name] for m in modes} | {"flops": flops[gen]} for gen in GENERATORS}


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


def render_training(r: dict) -> list[str]:
    """The report's training section: a row per generator and mode, then the FLOPs, the peaks, the break-even."""
    a = r["args"]
    memory = "peak CUDA memory allocated (MiB)" if a["device"] == "cuda" else "peak RSS (MiB)"
    isolation = (
        "each configuration in a fresh process"
        if a["isolate"]
        else "**in one process: peak RSS is the lifetime peak so far, not per configuration**"
    )
    out = [
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
    return out
