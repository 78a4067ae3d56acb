"""What every benchmark shares: the machine, timing, peak memory, runs in a fresh process, Markdown tables.

Each script under ``benchmarks/`` measures one thing and imports its helpers from here, so a CPU is
described, a duration timed and a table drawn the same way in every report. Nothing here imports
``colorize``: the helpers time and describe, the scripts decide what runs.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import resource
import statistics
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a hub lookup with no network stalls ~46 s

import lightning  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SAMPLE_DIR = REPO / "data" / "sample"


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


def quiet_lightning() -> None:
    """No banners ("GPU available: ...") or advice (few workers, small batches) in the benchmark's output."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="lightning")


# ---------------------------------------------------------------------------- timing


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


# ---------------------------------------------------------------------------- memory


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


# ---------------------------------------------------------------------------- a fresh process per measurement


def run_in_subprocess(command: Sequence[str], cfg: dict) -> dict:
    """``command + [config.json]`` in a fresh Python process (its own peak memory); the result it wrote.

    The command is an entry point that ends in :func:`worker_main` (``python -m benchmarks.bench --worker``).
    """
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.json"
        config.write_text(json.dumps(cfg))
        proc = subprocess.run([*command, str(config)], capture_output=True, text=True, cwd=REPO)
        if proc.returncode:
            raise RuntimeError(
                f"benchmark worker failed on {cfg['task']} {cfg.get('generator')}:\n{proc.stderr[-4000:]}"
            )
        return json.loads(config.with_suffix(".out.json").read_text())


def worker_main(config_path: str, measure: Callable[[dict], dict]) -> None:
    """Subprocess entry point: run one measurement, write its result next to its config."""
    quiet_lightning()
    cfg = json.loads(Path(config_path).read_text())
    result = measure(cfg)
    Path(config_path).with_suffix(".out.json").write_text(json.dumps(result))


def run_rounds(
    configs: dict[Hashable, dict], rounds: int, run: Callable[[dict], dict]
) -> dict[Hashable, dict[str, float]]:
    """Run every configuration ``rounds`` times with ``run``, interleaved (A B A B), and pool the rounds.

    A burst of load from other processes then slows every configuration a little rather than one a lot.
    Throughputs are medians of all the rounds' timed batches; memory is the largest round's.
    """
    runs: dict[Hashable, list[dict]] = {key: [] for key in configs}
    for _ in range(rounds):
        for key, cfg in configs.items():
            runs[key].append(run(cfg))
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


# ---------------------------------------------------------------------------- the report


def fmt(value: float) -> str:
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


def ratio(value: float) -> str:
    """A speed-up with three significant digits: a tiny or contended quick run must not print 0.0×."""
    return f"{value:.3g}×"


def mark(ok: bool) -> str:
    return "✔" if ok else "✘"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def publish(report: str, output: Path | None) -> None:
    """Write a benchmark's Markdown report to ``output`` (if any) and print it: a script's output, not logging."""
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(report)
    print(report)
