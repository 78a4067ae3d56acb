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

Each section is measured by its own module: :mod:`benchmarks.train_step` (training throughput,
TFLOP/s, conv peak), :mod:`benchmarks.pipeline` (the data pipeline, the loader alone, Lab
conversion) and :mod:`benchmarks.latency` (inference, start-up), with the helpers of
:mod:`benchmarks.common`. This script runs them in order and renders benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a hub lookup with no network stalls ~46 s

import torch  # noqa: E402

# cpu_description, fmt, median_time, publish and synchronize are also imported from here by scripts written
# against the one-file bench.py (benchmarks/scans.py, benchmarks/video.py): keep them importable.
from benchmarks.common import (  # noqa: E402
    REPO,
    cpu_description,  # noqa: F401
    cpu_kind,
    cpu_pressure,
    fmt,  # noqa: F401
    machine_info,
    mark,
    median_time,  # noqa: F401
    publish,
    quiet_lightning,
    ratio,
    resolve_device,
    run_in_subprocess,
    synchronize,  # noqa: F401
    table,
    worker_main,
)
from benchmarks.latency import inference_results, measure_startup, render_inference, render_startup  # noqa: E402
from benchmarks.photos import photo_paths  # noqa: E402
from benchmarks.pipeline import (  # noqa: E402
    measure_conversion,
    measure_pipeline,
    pipeline_results,
    render_conversion,
    render_pipeline,
)
from benchmarks.train_step import (  # noqa: E402
    FP32,
    GENERATORS,
    PEAK_CONV_SIZE,
    conv_peak_tflops,
    measure_training,
    render_training,
    training_modes,
    training_results,
)

DEFAULT_OUTPUT = REPO / "benchmarks" / "RESULTS.md"

#: The fastest UNet pipeline against the reference setup (the speed issue's bars): AMX does bf16 matrix
#: products in hardware tiles, AVX-512 BF16 only in vector registers, so the two kinds of CPU get their own bar.
TARGET_PIPELINE_SPEEDUP = {"AMX": 6.0, "no AMX": 3.5, "cuda": 3.5}
TARGET_FASTEST_VS_FP32 = 3.0
TARGET_STARTUP_EXTRA_S = 1.0


WORKERS = {"train": measure_training, "pipeline": measure_pipeline}


def measure(cfg: dict) -> dict:
    """One configuration of the training or the pipeline section, by its ``task``."""
    return WORKERS[cfg["task"]](cfg)


def run_config(cfg: dict, isolate: bool) -> dict:
    """One measurement in a fresh Python process (its own peak memory), or in this one."""
    if not isolate:
        with warnings.catch_warnings():
            quiet_lightning()
            return measure(cfg)
    return run_in_subprocess([sys.executable, "-m", "benchmarks.bench", "--worker"], cfg)


def render(r: dict) -> str:
    """The whole report (benchmarks/RESULTS.md): the machine, each section in turn, then the targets."""
    a = r["args"]
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
    ]
    out += render_training(r) + render_pipeline(r) + render_conversion(r) + render_inference(r) + render_startup(r)

    p, ref = r["pipeline"], r["pipeline"]["reference"]
    st = r["startup"]
    extra = st["colorize --help"] - st["import lightning"]
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
        worker_main(args.worker, measure)
        return {}
    device = resolve_device(args.device)
    args.image_size = args.image_size or 256
    args.batch_size = args.batch_size or 16
    args.device = device.type
    started = time.perf_counter()
    results: dict = {"args": vars(args) | {"output": str(args.output)}, "machine": machine_info(device)}
    run = functools.partial(run_config, isolate=args.isolate)
    results["training"] = training_results(args, run)
    results["peak_conv_size"] = 8 if args.quick else PEAK_CONV_SIZE
    results["conv_peak"] = {
        name: conv_peak_tflops(device, dtype, results["peak_conv_size"])
        for name, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32))
    }
    with tempfile.TemporaryDirectory() as scratch:
        results["pipeline"] = pipeline_results(args, Path(scratch), run)
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


if __name__ == "__main__":
    main()
