"""`make bench-gpu`: GAN training throughput on one GPU (fp32, bf16, bf16 + compile); does the loader keep up?

    python -m benchmarks.gpu --output $OUT/RESULTS-gpu.md   # one H100/H200, at most ~7.5 min (--budget-s 420)
    python -m benchmarks.gpu --quick --output /tmp/g.md     # seconds on a CPU: 32 px, batch 2, tiny UNet

Every row drives the real :meth:`colorize.training.module.ColorizationGAN.training_step` (one D step, then one
G step, manual optimization) under ``lightning.Trainer.fit``, built by the helpers of
:mod:`benchmarks.train_step`, for the paper's UNet and the ResNet18 UNet (``pretrained=False``) at two batch
sizes. The device is synchronized only at the two ends of the timed window, so queued work is
counted and the GPU is never made to wait for a per-batch sync; warm-up iterations (with
``torch.compile``'s compilation in them) are timed apart. A background thread samples
``nvidia-smi`` during each window. The rows, and how each is measured, are in :mod:`benchmarks.gpu_rows`.

The script is meant for a lent machine on which one call may run for 8 minutes at most: the rows
run in order of importance, each only if its estimated time (the last row like it, or a
conservative prior) fits in ``--budget-s``; the others are listed as skipped. The report is
rewritten after every row, and a watchdog writes it and exits ``GRACE_S`` after the budget, so a
slower-than-estimated compile still leaves a report behind.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

STARTED = time.perf_counter()  # before torch and Lightning load: their imports count against the budget too
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a hub lookup with no network stalls ~46 s

import torch  # noqa: E402

from benchmarks import common, train_step  # noqa: E402
from benchmarks.gpu_rows import (  # noqa: E402
    PHOTO_SIZE,
    LoaderRow,
    Row,
    TrainRow,
    measure_loader,
    measure_training,
    utilization_reader,
)

DEFAULT_OUTPUT = common.REPO / "benchmarks" / "RESULTS-gpu.md"
MODES = (train_step.FP32, train_step.BF16_CL, train_step.BF16_CL_COMPILE)
#: Seconds a row of each kind is assumed to take before a row like it has been measured: H100 guesses with
#: room to spare (a plain row ~10 s, compiling G and D for one shape ~30-90 s).
PRIOR_S = {"train": 20.0, "compile": 120.0, "loader": 25.0}
#: A measured row's time is scaled by this for the next row like it: batch 64 takes longer than 16.
ESTIMATE_MARGIN = 1.25
#: The watchdog stops the run this long after the budget: the budget is a plan, the watchdog the guarantee.
GRACE_S = 25.0


# ---------------------------------------------------------------------------- the plan


def plan(generators: Sequence[str], batches: Sequence[int], workers: Sequence[int]) -> list[Row]:
    """Every measurement, most important first: what a short budget drops is what the issue needs least.

    The cheap fp32/bf16 rows first (the paper's batch before the large one), then the loader (is the
    GPU starved?), then the compiled rows, which cost a compilation each.
    """
    eager = [TrainRow(g, b, m) for b in batches for g in generators for m in MODES if not m.compile]
    loader = [LoaderRow(w, max(batches)) for w in workers]
    compiled = [TrainRow(g, b, m) for b in batches for g in generators for m in MODES if m.compile]
    return eager + loader + compiled


class Budget:
    """Whether the next row fits: the time so far plus an estimate of the row, against ``seconds``.

    A row's estimate is the time of the last measured row ``alike`` (scaled by ``margin``), else ``prior``.
    """

    def __init__(
        self,
        seconds: float,
        margin: float = ESTIMATE_MARGIN,
        clock: Callable[[], float] = time.perf_counter,
        start: float | None = None,
    ):
        self.seconds, self.margin, self.clock = seconds, margin, clock
        self.start = clock() if start is None else start
        self.last: dict[str, float] = {}

    def elapsed(self) -> float:
        return self.clock() - self.start

    def estimate(self, alike: str, prior: float) -> float:
        return self.last[alike] * self.margin if alike in self.last else prior

    def fits(self, alike: str, prior: float) -> bool:
        return self.elapsed() + self.estimate(alike, prior) <= self.seconds

    def record(self, alike: str, seconds: float) -> None:
        self.last[alike] = seconds


# ---------------------------------------------------------------------------- the report


def fmt(value: float | None) -> str:
    return "n/a" if value is None else common.fmt(value)


def fastest_training(plan_: Sequence[Row], results: dict[Row, dict]) -> TrainRow | None:
    measured = [r for r in plan_ if isinstance(r, TrainRow) and "images_per_s" in results.get(r, {})]
    return max(measured, key=lambda r: results[r]["images_per_s"], default=None)


def status(result: dict | None) -> str:
    if result is None:
        return "not reached"
    return result.get("skipped") or result.get("note", "")


def render(r: dict) -> str:
    a, plan_, results = r["args"], r["plan"], r["results"]
    memory = "peak memory allocated (MiB)" if a["device"] == "cuda" else "peak RSS (MiB, process)"
    compile_how = "`ColorizationGAN(compile=True)`"
    out = [
        "# colorize GPU benchmarks",
        "",
        f"`{r['command']}` — {r['date']}, {r['elapsed_s']:.0f} s of a {a['budget_s']:g} s budget.",
        "",
        "## Machine",
        "",
        common.table(["", ""], [[k, v] for k, v in r["machine"].items()]),
        "",
        f"## Training throughput: {a['image_size']} px",
        "",
        "One GAN iteration = `ColorizationGAN.training_step` under `Trainer.fit` (one D step, then one G step, "
        f"Adam) on already-converted batches on the device. {a['warmup']} warm-up iteration(s), untimed "
        "(*warm-up* holds them, torch.compile's compilation included); then a window of at least "
        f"{a['min_iterations']} iteration(s) and {a['min_seconds']:g} s, the device synchronized only at its "
        f"two ends. bf16 = Lightning `bf16-mixed` with channels_last; compile = {compile_how}. Speed-up: "
        "against fp32 of the same generator and batch. *GPU util*: mean of `utilization.gpu` (share of time "
        "a kernel ran) sampled every 0.2 s in the window; *GPU memory used*: its largest `memory.used` "
        "(every process, the caching allocator's reserve included).",
        "",
    ]
    header = ["generator", "batch", "configuration", "images/s", "s/iteration", "speed-up vs fp32", "warm-up (s)"]
    header += ["timed iterations", memory, "GPU util (%)", "GPU memory used (MiB)", "note"]
    rows = []
    train_rows = [row for row in plan_ if isinstance(row, TrainRow)]
    order = {name: i for i, name in enumerate(a["generators"])}
    for row in sorted(train_rows, key=lambda x: (order[x.generator], x.batch, MODES.index(x.mode))):
        m = results.get(row)
        cells = [row.generator, str(row.batch), row.mode.name]
        if m is None or "images_per_s" not in m:
            rows.append(cells + ["—"] * (len(header) - 4) + [status(m)])
            continue
        base = results.get(TrainRow(row.generator, row.batch, train_step.FP32), {}).get("images_per_s")
        speedup = "n/a" if base is None else common.ratio(m["images_per_s"] / base)
        cells += [fmt(m["images_per_s"]), fmt(m["s_per_iteration"]), speedup, fmt(m["warmup_s"])]
        cells += [str(m["iterations"]), fmt(m["peak_mib"]), fmt(m["utilization"]), fmt(m["smi_memory_mib"])]
        rows.append(cells + [status(m)])
    out += [common.table(header, rows), ""]

    fastest = fastest_training(plan_, results)
    best = results[fastest]["images_per_s"] if fastest else None
    out += [
        "## Loader alone vs training: is the GPU starved?",
        "",
        f"The real pipeline with no model: {PHOTO_SIZE[0]}×{PHOTO_SIZE[1]} synthesized JPEGs (COCO-sized; from "
        "the page cache, no disk) → `PhotoDataset` in the loader's workers (decode, resize to uint8) → pinned "
        "transfer → kornia Lab on the device (`ColorizationDataModule.on_after_batch_transfer`); median "
        f"images/s of whole epochs over {a['loader_seconds']:g} s, the first epoch (workers starting) not "
        "counted. Against the fastest training row"
        + (f" ({fastest.label})" if fastest else " (none measured)")
        + ": *starved* when the loader alone is slower, i.e. training at that speed would wait for data.",
        "",
    ]
    header = ["loader workers", "batch", "loader alone images/s", "fastest training images/s", "loader / training"]
    header += ["verdict"]
    rows = []
    for row in (row for row in plan_ if isinstance(row, LoaderRow)):
        m = results.get(row)
        if m is None or "images_per_s" not in m:
            rows.append([str(row.workers), str(row.batch), "—", fmt(best), "—", status(m)])
            continue
        share = None if best is None else m["images_per_s"] / best
        verdict = "n/a" if share is None else "starved" if share < 1 else "keeps up"
        rows.append([str(row.workers), str(row.batch), fmt(m["images_per_s"]), fmt(best), fmt(share), verdict])
    out += [common.table(header, rows), ""]

    skipped = [(row, status(results.get(row))) for row in plan_ if "images_per_s" not in results.get(row, {})]
    out += ["## Skipped", ""]
    out += [f"- {row.label}: {why}" for row, why in skipped] or ["Nothing: every planned row was measured."]
    out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--quick", action="store_true", help="CPU smoke run: 32 px, batch 2, tiny UNet, 1+1 iteration")
    parser.add_argument(
        "--generators", nargs="+", choices=list(train_step.GENERATORS), default=list(train_step.GENERATORS)
    )
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--batch-sizes", type=int, nargs="+", help="default: 16 64 (--quick: 2)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed iterations (compilation happens in them)")
    parser.add_argument("--min-iterations", type=int, default=10, help="timed iterations, at least")
    parser.add_argument("--max-iterations", type=int, default=1000, help="timed iterations, at most")
    parser.add_argument("--min-seconds", type=float, default=3.0, help="timed window, at least")
    parser.add_argument("--num-workers", type=int, nargs="+", help="loader workers to try (default: 2 and 8)")
    parser.add_argument("--loader-seconds", type=float, default=3.0, help="loader-alone epochs for this long")
    parser.add_argument("--budget-s", type=float, default=420.0, help="skip rows that would end past this")
    parser.add_argument("--compile-on-cpu", action="store_true", help="run the torch.compile rows on a CPU too")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    if args.quick:
        args.image_size, args.warmup, args.min_iterations, args.max_iterations = 32, 1, 1, 1
        args.min_seconds, args.loader_seconds = 0.0, 0.0
        args.batch_sizes = args.batch_sizes or [2]
        args.num_workers = args.num_workers or [0]
    args.batch_sizes = args.batch_sizes or [16, 64]
    args.num_workers = args.num_workers or [2, min(8, os.cpu_count() or 1)]
    if min(args.min_iterations, args.max_iterations) < 1 or args.min_iterations > args.max_iterations:
        parser.error("need 1 <= --min-iterations <= --max-iterations")
    return args


def machine(device: torch.device, source: str) -> dict[str, str]:
    """:func:`common.machine_info`, plus what decides GPU numbers: CUDA, fp32 math, compile path, the util source."""
    info = common.machine_info(device)
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info["GPU"] = f"{props.name}, {props.total_memory / 2**30:.0f} GiB, {props.multi_processor_count} SMs"
        info["CUDA / cuDNN"] = f"{torch.version.cuda} / {torch.backends.cudnn.version()}"
    info["fp32 math"] = (
        f"TF32 convolutions: {torch.backends.cudnn.allow_tf32}; matmul precision: "
        f"{torch.get_float32_matmul_precision()}; cudnn.benchmark: {torch.backends.cudnn.benchmark} (as training runs)"
    )
    info["torch.compile"] = "ColorizationGAN(compile=True): generator and discriminator, in place"
    info["GPU utilization from"] = source
    return info


def main(argv: Sequence[str] | None = None, started: float | None = None) -> dict:
    """Run the planned rows that fit the budget, rewriting ``--output`` after each; returns the raw results.

    The budget counts from ``started`` (``perf_counter`` seconds; the script passes its import time), else from now.
    """
    args = parse_args(argv)
    device = common.resolve_device(args.device)
    args.device = device.type
    source, reader = utilization_reader(device)
    budget = Budget(args.budget_s, start=started)
    plan_ = plan(args.generators, args.batch_sizes, args.num_workers)
    results: dict[Row, dict] = {}
    command = " ".join(["python -m benchmarks.gpu", *(sys.argv[1:] if argv is None else argv)])
    state = {
        "args": vars(args) | {"output": str(args.output)},
        "machine": machine(device, source),
        "plan": plan_,
        "results": results,
        "command": command,
    }
    lock = threading.Lock()

    def write() -> str:
        state["elapsed_s"], state["date"] = budget.elapsed(), time.strftime("%Y-%m-%d %H:%M")
        report = render(state)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(report)
        return report

    running: list[Row] = []

    def overrun() -> None:
        # The main thread may be deep in a compilation that cannot be interrupted: report what is done, then go.
        with lock:
            late = f"the run passed its budget + {GRACE_S:g} s and the watchdog ended it"
            for row in plan_:
                if row not in results:
                    results[row] = {"skipped": f"{'interrupted' if row in running else 'not reached'}: {late}"}
            print(write(), flush=True)
        os._exit(3)

    watchdog = threading.Timer(args.budget_s + GRACE_S - budget.elapsed(), overrun)
    watchdog.daemon = True
    watchdog.start()
    try:
        with tempfile.TemporaryDirectory() as scratch, warnings.catch_warnings():
            common.quiet_lightning()
            for row in plan_:
                if isinstance(row, TrainRow) and row.mode.compile and device.type == "cpu" and not args.compile_on_cpu:
                    results[row] = {"skipped": "skipped: torch.compile on a CPU (--compile-on-cpu runs it)"}
                elif not budget.fits(row.alike, PRIOR_S[row.kind]):
                    need, left = budget.estimate(row.alike, PRIOR_S[row.kind]), args.budget_s - budget.elapsed()
                    results[row] = {"skipped": f"skipped: budget (needs ~{fmt(need)} s, {fmt(left)} s left)"}
                else:
                    started = time.perf_counter()
                    running[:] = [row]
                    if isinstance(row, TrainRow):
                        measured = measure_training(row, args, device, reader)
                    else:
                        measured = measure_loader(row, args, device, Path(scratch))
                    gc.collect()
                    if device.type == "cuda":
                        torch.cuda.empty_cache()
                    seconds = time.perf_counter() - started
                    budget.record(row.alike, seconds)
                    with lock:
                        results[row] = measured | {"row_s": seconds, "note": f"row took {seconds:.0f} s"}
                with lock:
                    write()
    finally:
        watchdog.cancel()
    with lock:
        report = write()
    print(report)  # a script's output, not library logging
    return state


if __name__ == "__main__":
    main(started=STARTED)
