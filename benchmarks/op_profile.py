"""`make profile`: where one training iteration spends its time, operator by operator.

    python -m benchmarks.op_profile                          # both generators, bf16 + channels_last, 256 px batch 16
    python -m benchmarks.op_profile --quick --output /tmp/p.md   # seconds: 32 px, batch 2

One GAN iteration (the real ``ColorizationGAN.training_step`` under ``Trainer.fit``, as in
:mod:`benchmarks.train_step`) runs under ``torch.profiler`` after warm-up iterations; the table lists
the operators by their own (self) time, so a layout conversion, a copy or an fp32 island shows up
as what it costs rather than hidden inside the convolution that called it. The FLOP count of the
iteration comes from ``torch.utils.flop_counter`` (convolutions and matmuls, forward and backward).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import lightning
import torch
from torch.profiler import ProfilerActivity, profile

from benchmarks.common import REPO, machine_info, publish, quiet_lightning, resolve_device, synchronize, table
from benchmarks.train_step import GENERATORS, MODES, Mode, count_flops, make_module, make_trainer, synthetic_batches

DEFAULT_OUTPUT = REPO / "benchmarks" / "PROFILE.md"


class ProfileOneBatch(lightning.Callback):
    """Profiles the batch with index ``batch_index`` (the ones before it warm up), from its start to its end."""

    def __init__(self, batch_index: int, device: torch.device):
        self.batch_index = batch_index
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
        self.profiler = profile(activities=activities)
        self.seconds = 0.0
        self.device = device

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx == self.batch_index:
            synchronize(self.device)
            self.profiler.__enter__()
            self.started = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if batch_idx == self.batch_index:
            synchronize(self.device)
            self.seconds = time.perf_counter() - self.started
            self.profiler.__exit__(None, None, None)


def profile_iteration(generator: str, mode: Mode, args: argparse.Namespace) -> dict:
    device = resolve_device(args.device)
    cfg = {"image_size": args.image_size, "batch_size": args.batch_size, "warmup": args.warmup, "iterations": 1}
    module = make_module(generator, mode)
    callback = ProfileOneBatch(args.warmup, device)
    batches = synthetic_batches(cfg, device)
    with tempfile.TemporaryDirectory() as root:
        trainer = make_trainer(mode, device, len(batches), callback, root)
        trainer.fit(module, train_dataloaders=batches)
    # Self time (µs) on the device that does the work: the GPU's kernels on CUDA, the CPU's otherwise.
    own_us = {
        event: event.self_device_time_total if device.type == "cuda" else event.self_cpu_time_total
        for event in callback.profiler.key_averages()
    }
    total = sum(own_us.values()) or 1.0
    top = sorted(own_us, key=own_us.get, reverse=True)[: args.top]
    rows = [{"op": e.key, "ms": own_us[e] / 1000, "share": own_us[e] / total, "calls": e.count} for e in top]
    return {"seconds": callback.seconds, "rows": rows}


def render(results: dict, args: argparse.Namespace, command: str) -> str:
    out = [
        "# One training iteration, operator by operator",
        "",
        f"`{command}` — {time.strftime('%Y-%m-%d %H:%M')}.",
        "",
        table(["", ""], [[k, v] for k, v in machine_info(resolve_device(args.device)).items()]),
        "",
    ]
    for (generator, mode_name), r in results.items():
        tflops = r["flops"] / r["seconds"] / 1e12 if r["seconds"] else float("nan")
        out += [
            f"## {generator}, {mode_name}: {args.image_size} px, batch {args.batch_size}",
            "",
            f"One iteration: {r['seconds']:.2f} s under the profiler, {r['flops'] / 1e12:.2f} TFLOP "
            f"({tflops:.3f} TFLOP/s). Top {args.top} operators by self time:",
            "",
            table(
                ["operator", "self ms", "share", "calls"],
                [
                    [row["op"], f"{row['ms']:.1f}", f"{100 * row['share']:.1f} %", str(row["calls"])]
                    for row in r["rows"]
                ],
            ),
            "",
        ]
    return "\n".join(out)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--generator", choices=[*GENERATORS, "all"], default="all")
    parser.add_argument("--mode", choices=list(MODES), action="append", help="repeatable; default bf16 + channels_last")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=1, help="unprofiled iterations first (compile happens there)")
    parser.add_argument("--top", type=int, default=15, help="operators listed per table")
    parser.add_argument("--quick", action="store_true", help="32 px, batch 2: a smoke run")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    args.mode = args.mode or ["bf16 + channels_last"]
    if args.quick:
        args.image_size, args.batch_size = 32, 2
    return args


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    quiet_lightning()
    generators = list(GENERATORS) if args.generator == "all" else [args.generator]
    results = {}
    for generator in generators:
        for name in args.mode:
            mode = MODES[name]
            results[generator, name] = profile_iteration(generator, mode, args)
            results[generator, name]["flops"] = count_flops(generator, args.image_size, args.batch_size)
    command = " ".join(["python -m benchmarks.op_profile", *(sys.argv[1:] if argv is None else argv)])
    publish(render(results, args, command), args.output)
    return results


if __name__ == "__main__":
    main()
