"""Wall time and peak memory of `colorize predict` on one large grayscale scan: 1, 12, 40 and 100 megapixels.

    python -m benchmarks.scans --checkpoint runs/demo/checkpoints/last.ckpt --output benchmarks/RESULTS-scans.md
    python -m benchmarks.scans --sizes 1,40 --before /path/to/a/checkout/of/the/old/code

Each photo is made here, in a temporary folder, as an 8-bit grayscale PNG of 3:2 aspect ratio
(smooth shapes plus film-like grain, so it compresses like a scan), then colorized by a fresh
``colorize predict`` process under ``/usr/bin/time -v``, as the issue measured it: wall time,
CPU time (user + system) and the peak resident memory of the process tree's largest process.
Start-up (imports, the checkpoint) is in every row, so the issue's criteria are differences to
the 1 MP row of the same run: a 40 MP photo at most 1 GB and 10 s above it, a 100 MP one at
most 2 GB above it.

``--before DIR`` runs the same photos with the code in ``DIR`` as well (``PYTHONPATH=DIR``), for
figures of the old path on the same machine at the same time; sizes over ``--before-max-mp``
are left out of it (the old path needs ~140 bytes per pixel: 100 MP would take ~14 GB).

Other people's processes share the CPU: the load average before each run is in its row, and
CPU time is the steadier figure when the machine is busy.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.bench import cpu_description, cpu_kind, publish, table

REPO = Path(__file__).resolve().parent.parent
DEMO_CHECKPOINT = REPO / "runs" / "demo" / "checkpoints" / "last.ckpt"
TINY_CHECKPOINT = REPO / "tests" / "fixtures" / "before_regroup" / "last.ckpt"

#: The issue's measurements before this work (demo model, 2-core AMD EPYC without AMX): MP -> (s, GB).
TODAY = {1: (12.8, 1.62), 40: (42.1, 7.09)}

#: Megapixels -> (height, width) of the photos, 3:2 like a 10 x 15 cm print; 1 and 40 are the issue's.
SIZES = {1: (816, 1224), 12: (2832, 4248), 40: (5164, 7746), 100: (8165, 12247)}


def make_scan(path: Path, height: int, width: int, seed: int = 0) -> None:
    """An 8-bit grayscale PNG: large soft shapes (a bicubic upscale of 24 x 36 random levels) plus grain."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(30, 226, (24, 36), dtype=np.uint8))
    smooth = np.asarray(coarse.resize((width, height), Image.Resampling.BICUBIC), dtype=np.int16)
    grain = rng.integers(-6, 7, (height, width), dtype=np.int16)
    np.add(smooth, grain, out=smooth)
    Image.fromarray(np.clip(smooth, 0, 255).astype(np.uint8)).save(path, compress_level=1)


def _seconds(clock: str) -> float:
    parts = [float(p) for p in clock.split(":")]
    return sum(value * 60**power for power, value in enumerate(reversed(parts)))


def measure(code: Path, checkpoint: Path, photo: Path, output: Path, output_format: str) -> dict[str, float]:
    """One ``colorize predict`` of ``photo`` with the code in ``code``, under ``/usr/bin/time -v``."""
    command = [
        "/usr/bin/time",
        "-v",
        sys.executable,
        "-m",
        "colorize.cli",
        "predict",
        "--ckpt_path",
        str(checkpoint),
        "--input",
        str(photo.parent),
        "--output",
        str(output),
    ]
    if output_format != "png":
        command += ["--output_format", output_format]
    env = {**os.environ, "PYTHONPATH": str(code), "HF_HUB_OFFLINE": "1"}
    load = os.getloadavg()[0]
    # cwd: `python -m` puts the working folder first on sys.path, ahead of PYTHONPATH.
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=output.parent)
    report = done.stderr
    if done.returncode != 0:
        raise SystemExit(f"colorize predict failed on {photo.name} (code {code}):\n{report[-3000:]}")
    wall = _seconds(re.search(r"Elapsed \(wall clock\) time.*: (\S+)", report).group(1))
    user = float(re.search(r"User time \(seconds\): (\S+)", report).group(1))
    system = float(re.search(r"System time \(seconds\): (\S+)", report).group(1))
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", report).group(1))
    written = sorted(p for p in output.rglob("*") if p.is_file())
    if len(written) != 1:
        raise SystemExit(f"expected one colorized photo in {output}, found {len(written)}")
    return {"wall": wall, "cpu": user + system, "peak_gb": peak_kb * 1024 / 1e9, "load": load}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=None, help="default: the demo's, else the tests' tiny one")
    parser.add_argument("--sizes", default="1,12,40,100", help="megapixels, of " + ", ".join(map(str, SIZES)))
    parser.add_argument("--output-format", default="png", choices=("png", "tiff"))
    parser.add_argument("--before", type=Path, default=None, help="a checkout of the code to compare with")
    parser.add_argument("--before-max-mp", type=int, default=40)
    parser.add_argument("--scratch", type=Path, default=None, help="where the photos go (default: a temp folder)")
    parser.add_argument("--output", type=Path, default=None, help="write the Markdown report here too")
    args = parser.parse_args(argv)
    checkpoint = args.checkpoint or (DEMO_CHECKPOINT if DEMO_CHECKPOINT.exists() else TINY_CHECKPOINT)
    sizes = [int(s) for s in args.sizes.split(",")]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        parser.error(f"--sizes: no photo size for {unknown} MP; choose from {sorted(SIZES)}")

    codes = [("this code", REPO)] + ([("before", args.before.resolve())] if args.before else [])
    rows, results = [], {}
    with tempfile.TemporaryDirectory(dir=args.scratch) as scratch:
        scratch = Path(scratch)
        for megapixels in sizes:
            height, width = SIZES[megapixels]
            photo = scratch / f"in-{megapixels}" / f"scan-{megapixels}mp.png"
            photo.parent.mkdir()
            started = time.perf_counter()
            make_scan(photo, height, width)
            print(f"made {photo.name} ({width} x {height}) in {time.perf_counter() - started:.1f} s", file=sys.stderr)
            for name, code in codes:
                if name == "before" and megapixels > args.before_max_mp:
                    continue
                output = scratch / f"out-{megapixels}-{name.replace(' ', '-')}"
                result = measure(code, checkpoint, photo, output, args.output_format)
                shutil.rmtree(output)
                results[(name, megapixels)] = result
                print(f"{name}, {megapixels} MP: {result}", file=sys.stderr)
            photo.unlink()

    for (name, megapixels), result in results.items():
        base = results.get((name, 1))
        today = TODAY.get(megapixels)
        delta = (
            (
                f"{result['wall'] - base['wall']:+.1f} s",
                f"{result['cpu'] - base['cpu']:+.1f} s",
                f"{result['peak_gb'] - base['peak_gb']:+.2f} GB",
            )
            if base is not None and megapixels != 1
            else ("", "", "")
        )
        height, width = SIZES[megapixels]
        rows.append(
            [
                f"{megapixels} MP ({width}×{height})",
                name,
                f"{result['wall']:.1f} s",
                f"{result['cpu']:.1f} s",
                f"{result['peak_gb']:.2f} GB",
                *delta,
                f"{result['load']:.1f}",
                f"{today[0]} s / {today[1]} GB" if today else "",
            ]
        )
    header = [
        "photo",
        "code",
        "wall time",
        "CPU time",
        "peak memory",
        "wall vs 1 MP",
        "CPU vs 1 MP",
        "memory vs 1 MP",
        "load avg before",
        "issue's 'today'",
    ]
    try:
        shown = checkpoint.resolve().relative_to(REPO)
    except ValueError:
        shown = checkpoint
    report = "\n".join(
        [
            "# Large scans: `colorize predict` on one grayscale PNG",
            "",
            f"Checkpoint `{shown}`, output {args.output_format.upper()}, "
            f"one fresh process per photo under `/usr/bin/time -v`; CPU: {cpu_description()}, {cpu_kind()}. "
            "The CPU was shared with other people's processes (load average in each row): "
            "wall times are noisy.",
            "",
            "Command: `python -m benchmarks.scans " + " ".join(argv if argv is not None else sys.argv[1:]) + "`",
            "",
            table(header, rows),
            "",
        ]
    )
    publish(report, args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
