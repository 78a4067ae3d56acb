"""What a user waits for: one photo colorized at full resolution, and the CLI's start-up.

Inference runs :func:`colorize.inference.full_resolution.colorize_image` with its defaults, as
``colorize predict`` does; start-up is ``colorize --help`` against ``import lightning`` alone, each in
a fresh process, so what the CLI adds on top of Lightning shows.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from benchmarks.common import REPO, fmt, median_time, table
from benchmarks.photos import photo_of_size
from benchmarks.train_step import GENERATORS
from colorize.inference.full_resolution import colorize_image, working_size


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


def inference_results(args: argparse.Namespace, device: torch.device, scratch: Path) -> dict[str, list[dict]]:
    """Latency of a square training-size image and of a 4:3 photograph (1024×768 by default), per generator."""
    t = args.inference_target
    images = [photo_of_size(t, t, scratch), photo_of_size(4 * t, 3 * t, scratch)]
    return {gen: [measure_inference(gen, image, t, device, args.repeats) for image in images] for gen in GENERATORS}


def render_inference(r: dict) -> list[str]:
    """The report's inference section: a row per generator and photo size."""
    a = r["args"]
    out = [
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
    return out


def render_startup(r: dict) -> list[str]:
    """The report's start-up section: `import lightning` against `colorize --help`."""
    a = r["args"]
    st = r["startup"]
    return [
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
