"""`make bench-video`: flicker, accuracy and speed of video colorization, and its memory over a film's length.

    python -m benchmarks.video --checkpoint runs/demo/checkpoints/last.ckpt      # ~5-10 min on 2 CPU cores
    python -m benchmarks.video --checkpoint ... --videos my_colour_clips/       # test-set mode: real colour clips
    python -m benchmarks.video --checkpoint ... --memory-minutes 10              # + peak memory, 10 s vs 10 min

**Clips.** Made at run time from held-out photos of the sample set (the sources of
``configs/sample.yaml``'s ``test_sources``, which no model here trains on): a 640 x 360 camera
move over one photo (a pan and a zoom), a hard cut, a pan over a second photo; 25 frames/s, encoded
with PyAV (H.264). Its true colour exists, so accuracy and the true clip's own warp error (the floor
a real video has: resampling and codec noise) are measured beside the colorizations. The input of
each colorization is the clip's gray version (L* only), also encoded with PyAV.

**Rows**, per clip and over all clips: per-frame colorization, and steadied colorization with the
generator on every ``k``-th frame for each ``--intervals`` k (the first interval's row is the one
the targets are read on), each without and with mirror averaging; the true colour; all-gray.
**Columns** (:mod:`colorize.evaluation.temporal`): warp error along DIS flow of the gray clip (not
FlowNet2: comparable within this project only), CDC at gaps 1, 2, 4, per-frame pixel accuracy at
2 % and 5 %, the share of frames the generator coloured, and frames/s of
:func:`colorize.inference.video.colorize_video` from file to file (decoding, flow, encoding included).

**Memory** (``--memory-minutes``): a 10-second and a long gray clip are colorized in fresh
subprocesses; each reports its peak resident memory (``ru_maxrss``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a hub lookup with no network stalls ~46 s

import av  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from benchmarks.bench import cpu_description, cpu_pressure, publish, table  # noqa: E402
from colorize.evaluation.temporal import TemporalMetrics, flow_checks  # noqa: E402
from colorize.inference.full_resolution import bf16_is_used, working_size  # noqa: E402
from colorize.inference.video import KEY_INTERVAL, colorize_video  # noqa: E402
from colorize.models.fold_batch_norm import fold_batch_norms  # noqa: E402
from colorize.models.mirror_average import MirrorAverage  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
#: configs/sample.yaml's data.test_sources: the held-out photo sources.
TEST_SOURCES = ("mvtb-data", "scratch")
HEIGHT, WIDTH, FPS = 360, 640, 25
#: Photos of the made clips (two per clip), held-out, at least 640 x 426; chosen for varied scenes.
CLIP_PHOTOS = (
    ("mvtb-data/road.jpg", "mvtb-data/flowers1.jpg"),
    ("mvtb-data/eiffel-1.jpg", "mvtb-data/parks.jpg"),
)
STEADY = 0.8
PER_FRAME = "per-frame"


def steadied_row(interval: int) -> str:
    return "steadied, every frame" if interval == 1 else f"steadied, keyframes every {interval}"


# ---------------------------------------------------------------------------- clips


def lightness_u8(rgb: np.ndarray) -> np.ndarray:
    """L* of an ``(H, W, 3)`` uint8 sRGB frame, scaled to 0-255 (OpenCV's 8-bit Lab)."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)[..., 0]


def gray_frame(rgb: np.ndarray) -> np.ndarray:
    """The frame's lightness alone, as gray sRGB (a* = b* = 0): what a black-and-white film holds."""
    lab = cv2.cvtColor(rgb.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
    lab[..., 1:] = 0
    return (cv2.cvtColor(lab, cv2.COLOR_Lab2RGB).clip(0, 1) * 255).round().astype(np.uint8)


def camera_move(photo: np.ndarray, frames: int, zoom: float, pan: float) -> Iterator[np.ndarray]:
    """``frames`` 640 x 360 views of ``photo``: the window slides by ``pan`` of the free width, scales by ``zoom``."""
    h, w = photo.shape[:2]
    # Downscale first so that the window is about the output's size: linear warping then does not alias.
    base = min(w / WIDTH, h / HEIGHT) * 0.85
    if base > 1.2:
        photo = cv2.resize(photo, (round(w / base * 1.1), round(h / base * 1.1)), interpolation=cv2.INTER_AREA)
        h, w = photo.shape[:2]
    for i in range(frames):
        s = i / max(1, frames - 1)
        scale = min(w / WIDTH, h / HEIGHT) * 0.8 * (1 - (1 - zoom) * s)  # input pixels per output pixel
        cx = w / 2 + (s - 0.5) * pan * (w - WIDTH * scale)
        cy = h / 2 + (s - 0.5) * 0.3 * pan * (h - HEIGHT * scale)
        matrix = np.array([[scale, 0, cx - scale * WIDTH / 2], [0, scale, cy - scale * HEIGHT / 2]], np.float32)
        yield cv2.warpAffine(photo, matrix, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)


def clip_frames(first: np.ndarray, second: np.ndarray, frames: int) -> Iterator[np.ndarray]:
    """A pan and zoom over ``first``, a hard cut, a pan over ``second``."""
    half = frames // 2
    yield from camera_move(first, half, zoom=0.75, pan=0.8)
    yield from camera_move(second, frames - half, zoom=1.0, pan=-0.9)


class _Writer:
    def __init__(self, path: Path, crf: int, preset: str = "medium"):
        self.container = av.open(str(path), "w")
        self.stream = self.container.add_stream("libx264", rate=FPS)
        self.stream.width, self.stream.height, self.stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        self.stream.options = {"crf": str(crf), "preset": preset}

    def write(self, rgb: np.ndarray) -> None:
        self.container.mux(self.stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))

    def close(self) -> None:
        self.container.mux(self.stream.encode(None))
        self.container.close()


def write_clip(frames: Iterator[np.ndarray], color: Path | None, gray: Path, preset: str = "medium") -> int:
    """Encode the frames (true colour, if ``color``) and their gray version; returns the frame count."""
    writers = ([_Writer(color, 12, preset)] if color else []), _Writer(gray, 12, preset)
    count = 0
    for rgb in frames:
        for writer in writers[0]:
            writer.write(rgb)
        writers[1].write(gray_frame(rgb))
        count += 1
    for writer in [*writers[0], writers[1]]:
        writer.close()
    return count


def load_photo(sample: Path, relative: str) -> np.ndarray:
    from colorize.data.images import load_rgb

    if not (sample / relative).is_file():
        raise SystemExit(f"no held-out photo {sample / relative}: make sample-data, or pass --sample FOLDER")
    return np.asarray(load_rgb(sample / relative))


def decode(path: Path) -> Iterator[np.ndarray]:
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="rgb24")


# ---------------------------------------------------------------------------- measuring


def gray_flows(gray: Path) -> list:
    """The flow checks of the gray clip's consecutive frames (computed once, shared by every row)."""
    return flow_checks([lightness_u8(g) for g in decode(gray)])


def measure_clip(gray: Path, shown: Path, color: Path | None, flows: list) -> dict[str, float]:
    """Temporal metrics of the video ``shown`` (flow from ``gray``; accuracy against ``color`` when given)."""
    metrics = TemporalMetrics()
    truths = decode(color) if color is not None else None
    for i, (g, s) in enumerate(zip(decode(gray), decode(shown), strict=True)):
        kwargs = {"flow": flows[i - 1]} if i else {}
        metrics.update(lightness_u8(g), s, next(truths) if truths is not None else None, **kwargs)
    return metrics.compute()


def colorize_row(
    network: nn.Module,
    size: int,
    gray: Path,
    color: Path | None,
    out: Path,
    steady: float,
    flows,
    compile="auto",
    interval: int = KEY_INTERVAL,
) -> dict:
    result = colorize_video(
        network, gray, out, target_size=size, steady=steady, key_interval=interval, batch_size=4, compile=compile
    )
    row = measure_clip(gray, out, color, flows)
    row.update(
        frames_per_s=result.frames_per_s,
        seconds=result.seconds,
        frames_out=result.frames,
        keyframe_count=result.keyframes,
        keyframes=result.keyframes / max(1, result.frames),
    )
    return row


def generator_rate(network: nn.Module, size: int, batch: int = 4, repeats: int = 3) -> float:
    """Frames/s of the generator alone at the working size of a 640 x 360 frame, run as video runs it.

    bf16 where the CPU has it (else float32), batch norms folded, channels-last memory on the CPU
    (colorize/inference/video.py's _Colorist).
    """
    device = next(network.parameters()).device
    layout = torch.channels_last if device.type == "cpu" else torch.contiguous_format
    network = fold_batch_norms(network).to(memory_format=layout)
    h, w = working_size(HEIGHT, WIDTH, size, int(getattr(network, "stride", 1)))
    L = torch.zeros(batch, 1, h, w, device=device).contiguous(memory_format=layout)
    autocast = bf16_is_used(network)
    times = []
    with torch.inference_mode(), torch.autocast(device.type, torch.bfloat16, enabled=autocast):
        network(L)
        for _ in range(repeats):
            start = time.perf_counter()
            network(L)
            times.append(time.perf_counter() - start)
    return batch / sorted(times)[len(times) // 2]


def load_network(checkpoint: str | None) -> tuple[nn.Module, int, str]:
    if checkpoint:
        from colorize.inference.colorizer import load_colorizer

        colorizer = load_colorizer(checkpoint)
        return colorizer.generator.eval(), colorizer.image_size, f"{checkpoint} ({colorizer.info['generator']})"
    from colorize.models.resnet_unet import ResNetUNet

    network = ResNetUNet("vgg16", pretrained=False, out_indices=[1, 2, 3, 4, 5]).eval()
    return network, 128, "an untrained VGG16 UNet at 128 px (no --checkpoint: speed only, colour meaningless)"


def fmt(value: float, scale: float = 1.0, digits: int = 3) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value * scale:.{digits}g}"


def render_rows(rows: dict[str, dict]) -> list[list[str]]:
    out = []
    for name, r in rows.items():
        out.append(
            [
                name,
                fmt(r.get("warp_error"), 1e3),
                fmt(r.get("cdc"), 1e3),
                fmt(r.get("pixel_acc@2%"), 100),
                fmt(r.get("pixel_acc@5%"), 100),
                fmt(r.get("keyframes"), 100),
                fmt(r.get("frames_per_s")),
            ]
        )
    return out


HEADER = ("row", "warp error ×10⁻³", "CDC ×10⁻³", "acc@2% (%)", "acc@5% (%)", "generator on (% of frames)", "frames/s")


def mean_rows(per_clip: list[dict[str, dict]]) -> dict[str, dict]:
    """Each metric's mean over clips; frames/s as all frames over all seconds."""
    out: dict[str, dict] = {}
    for name in per_clip[0]:
        rows = [clip[name] for clip in per_clip]
        merged = {
            k: float(np.mean([r[k] for r in rows]))
            for k in rows[0]
            if k not in ("frames_per_s", "seconds", "keyframes", "keyframe_count", "frames_out")
        }
        if "seconds" in rows[0]:
            merged["frames_per_s"] = sum(r["frames_out"] for r in rows) / sum(r["seconds"] for r in rows)
            merged["keyframes"] = sum(r["keyframe_count"] for r in rows) / sum(r["frames_out"] for r in rows)
        out[name] = merged
    return out


TARGETS_HEADER = ("row", "warp error / per-frame (≤ 0.7)", "CDC lower", "Δ acc@5% (points, ≥ −0.5)", "frames/s (≥ 10)")


def target_rows(overall: dict[str, dict], plain: dict, suffix: str, intervals: Sequence[int]) -> list[list[str]]:
    """The issue's targets for each steadied row against the per-frame one, to choose a keyframe interval by."""
    rows = []
    for interval in sorted(set(intervals)):
        row = overall[steadied_row(interval) + suffix]
        rows.append(
            [
                steadied_row(interval) + suffix,
                f"{row['warp_error'] / plain['warp_error']:.2f}×",
                "yes" if row["cdc"] < plain["cdc"] else "no",
                f"{(row['pixel_acc@5%'] - plain['pixel_acc@5%']) * 100:+.2f}",
                f"{row['frames_per_s']:.2f}",
            ]
        )
    return rows


# ---------------------------------------------------------------------------- memory


def tiny_network() -> tuple[nn.Module, int, str]:
    from colorize.models.unet import UNet

    torch.manual_seed(0)
    return UNet(base_width=8, depth=2).eval(), 128, "a small UNet (base width 8, depth 2) at 128 px"


def peak_rss_child(args: argparse.Namespace) -> None:
    """``--memory-child GRAY``: colorize it, print ``{"peak_mib", "frames", "frames_per_s"}`` as JSON."""
    network, size, _ = tiny_network() if args.memory_tiny else load_network(args.checkpoint)
    with tempfile.TemporaryDirectory() as folder:
        result = colorize_video(
            network,
            args.memory_child,
            Path(folder) / "out.mp4",
            target_size=size,
            steady=args.steady,
            compile=memory_compile(args),
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    described = {"peak_mib": peak, "frames": result.frames, "frames_per_s": result.frames_per_s}
    print(json.dumps({**described, "compiled": result.compiled}))


def memory_compile(args: argparse.Namespace) -> bool:
    """Both films of the memory comparison run alike: compiled (as a long film is by default) unless --compile off."""
    return args.compile != "off"


def compile_choice(value: str) -> bool | str:
    return {"on": True, "off": False}.get(value, value)


MEMORY_HEADER = ("clip", "frames", "peak RSS (MiB)", "frames/s (file to file)", "compiled")


def memory_rows(args: argparse.Namespace, scratch: Path) -> list[list[str]]:
    photos = [load_photo(args.sample, p) for p in CLIP_PHOTOS[0]]
    rows = []
    for seconds in (10, round(args.memory_minutes * 60)):
        gray = scratch / f"long_{seconds}s.mp4"
        frames = seconds * FPS
        # A long film is a repeated camera path: the frame count is what memory could grow with.
        loop = (f for _ in range(math.ceil(frames / (4 * FPS))) for f in clip_frames(*photos, 4 * FPS))
        write_clip((f for _, f in zip(range(frames), loop, strict=False)), None, gray, preset="ultrafast")
        command = [sys.executable, "-m", "benchmarks.video", "--memory-child", str(gray)]
        if args.checkpoint:
            command += ["--checkpoint", args.checkpoint]
        if args.memory_tiny:
            command.append("--memory-tiny")
        command += ["--compile", args.compile, "--steady", str(args.steady)]
        done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=REPO)
        child = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(
            [
                f"{seconds} s",
                str(child["frames"]),
                f"{child['peak_mib']:.0f}",
                f"{child['frames_per_s']:.3g}",
                "yes" if child["compiled"] else "no",
            ]
        )
        gray.unlink()
    return rows


# ---------------------------------------------------------------------------- report


def test_set_clips(folder: Path, scratch: Path, frames: int) -> list[tuple[str, Path, Path]]:
    """``(name, gray, colour)`` for each colour video of ``folder`` (test-set mode): its first ``frames`` frames,
    in colour and gray, encoded with PyAV (H.264, near-lossless) so that both decode frame for frame alike."""
    from colorize.data.videos import find_videos

    clips = []
    for video in find_videos(folder):
        color, gray = scratch / f"{video.stem}_color.mp4", scratch / f"{video.stem}_gray.mp4"
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            writers = []
            for path, convert in ((color, lambda rgb: rgb), (gray, gray_frame)):
                writer = av.open(str(path), "w")
                out = writer.add_stream("libx264", rate=stream.average_rate or FPS)
                out.width, out.height, out.pix_fmt = stream.width, stream.height, "yuv420p"
                out.options = {"crf": "12"}
                writers.append((writer, out, convert))
            for frame, _ in zip(container.decode(stream), range(frames), strict=False):
                rgb = frame.to_ndarray(format="rgb24")
                for writer, out, convert in writers:
                    writer.mux(out.encode(av.VideoFrame.from_ndarray(convert(rgb), format="rgb24")))
            for writer, out, _ in writers:
                writer.mux(out.encode(None))
                writer.close()
        clips.append((video.name, gray, color))
    return clips


#: Real filmed colour clips in Debian's opencv-doc (Apache-2.0 AND BSD-3-Clause, its copyright file's "Files: *"):
#: a plaza filmed from above with people walking (static camera), a tree in the wind, a hand moving a box, a cup.
OPENCV_CLIPS = {
    "vtest.avi": "usr/share/doc/opencv-doc/examples/data/vtest.avi",
    "tree.avi": "usr/share/doc/opencv-doc/examples/data/tree.avi",
    "box.mp4": "usr/share/doc/opencv-doc/opencv4/html/box.mp4.gz",
    "cup.mp4": "usr/share/doc/opencv-doc/opencv4/html/cup.mp4.gz",
}


def opencv_clips(scratch: Path, cache: Path) -> Path:
    """A folder of :data:`OPENCV_CLIPS`, from Debian's opencv-doc (``apt-get download``, ~100 MB, cached)."""
    import gzip
    import shutil

    from colorize.data.sample_sources import fetch_packages

    root = fetch_packages(cache, ["opencv-doc"]) / "opencv-doc"
    folder = scratch / "opencv-clips"
    folder.mkdir()
    for name, relative in OPENCV_CLIPS.items():
        opener = gzip.open if relative.endswith(".gz") else open
        with opener(root / relative, "rb") as source, open(folder / name, "wb") as target:
            shutil.copyfileobj(source, target)
    return folder


def clips_described(args: argparse.Namespace) -> str:
    if args.opencv_clips:
        return (
            f"the real filmed clips of Debian's opencv-doc ({', '.join(OPENCV_CLIPS)}; Apache-2.0 AND BSD-3-Clause), "
            f"their first {args.frames} frames at their own size"
        )
    if args.videos:
        return f"test-set videos of {args.videos}, their first {args.frames} frames"
    return f"made from held-out photos, {WIDTH} x {HEIGHT}"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.video", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", help="a .ckpt or .safetensors (default: an untrained demo-sized generator)")
    parser.add_argument("--sample", type=Path, default=REPO / "data" / "sample", help="the sample photo set")
    parser.add_argument("--frames", type=int, default=150, help="frames per made clip (150 = 6 s at 25 frames/s)")
    parser.add_argument("--clips", type=int, default=len(CLIP_PHOTOS), help="how many made clips")
    parser.add_argument(
        "--videos", type=Path, help="test-set mode: colour videos to measure instead of made clips (--frames of each)"
    )
    parser.add_argument(
        "--opencv-clips",
        action="store_true",
        help="test-set mode on the real filmed clips of Debian's opencv-doc (apt-get download, ~100 MB, cached)",
    )
    parser.add_argument(
        "--cache", type=Path, default=Path("~/.cache/colorize/debian"), help="where --opencv-clips keeps the package"
    )
    parser.add_argument(
        "--mirror", choices=("both", "off", "only"), default="both", help="rows without/with mirror averaging"
    )
    parser.add_argument("--memory-minutes", type=float, default=0, help="also compare peak memory, 10 s vs this")
    parser.add_argument(
        "--memory-tiny", action="store_true", help="the memory runs with a small UNet (minutes, not hours, per film)"
    )
    parser.add_argument("--memory-only", action="store_true", help="only the memory comparison")
    parser.add_argument("--steady", type=float, default=STEADY, help="the steadied rows' strength")
    parser.add_argument(
        "--intervals",
        type=lambda text: [int(k) for k in text.split(",")],
        default=[KEY_INTERVAL, 1],
        help=f"keyframe intervals of the steadied rows, comma-separated; the first is the one the targets are read "
        f"on (default: {KEY_INTERVAL},1: colorize_video's default, and the generator on every frame)",
    )
    parser.add_argument(
        "--compile",
        choices=("auto", "on", "off"),
        default="auto",
        help="torch.compile the generator (auto: films of a minute or more, so the made clips run eager); "
        "the memory comparison's two films both run compiled unless off",
    )
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help="write the Markdown report here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.memory_child:
        peak_rss_child(args)
        return {}
    if args.memory_only:
        with tempfile.TemporaryDirectory() as folder:
            memory = memory_rows(args, Path(folder))
        generator = tiny_network()[2] if args.memory_tiny else load_network(args.checkpoint)[2]
        report = [
            "# Video colorization: peak memory, a short film vs a long one",
            "",
            f"- generator: {generator}; steadied ({args.steady}), batch 4; each film in a fresh process",
            f"- CPU: {cpu_description()}; CPU pressure (PSI some, avg60 / avg300): {cpu_pressure()}",
            "",
            table(MEMORY_HEADER, memory),
        ]
        publish("\n".join(report) + "\n", args.output)
        return {"memory": memory}
    network, size, described = load_network(args.checkpoint)
    load_start = os.getloadavg()[0]
    per_clip: list[dict[str, dict]] = []
    sections = []
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        if args.opencv_clips:
            args.videos = opencv_clips(scratch, args.cache)
        if args.videos:
            clips = test_set_clips(args.videos, scratch, args.frames)
        else:
            clips = []
            for i, (a, b) in enumerate(CLIP_PHOTOS[: args.clips]):
                color, gray = scratch / f"clip{i}_color.mp4", scratch / f"clip{i}_gray.mp4"
                photos = load_photo(args.sample, a), load_photo(args.sample, b)
                write_clip(clip_frames(*photos, args.frames), color, gray)
                clips.append((f"{Path(a).stem} → cut → {Path(b).stem}", gray, color))
        variants = []  # (row, network, steadying strength, keyframe interval)
        nets = [("", network)] if args.mirror != "only" else []
        if args.mirror != "off":
            nets.append((", mirror", MirrorAverage(network).eval()))
        for suffix, net in nets:
            variants.append((PER_FRAME + suffix, net, 0.0, 1))
            variants += [(steadied_row(k) + suffix, net, args.steady, k) for k in args.intervals]
        for name, gray, color in clips:
            rows: dict[str, dict] = {}
            flows = gray_flows(gray)
            for row, net, steady, interval in variants:
                rows[row] = colorize_row(
                    net, size, gray, color, scratch / "out.mp4", steady, flows, compile_choice(args.compile), interval
                )
                print(f"{name}, {row}: {rows[row]}", file=sys.stderr, flush=True)  # progress of a long run
            rows["true colour"] = measure_clip(gray, color, color, flows)
            rows["all-gray"] = measure_clip(gray, gray, color, flows)
            per_clip.append(rows)
            sections.append(
                f"### {name} ({rows[variants[0][0]]['frames']:.0f} frames)\n\n{table(HEADER, render_rows(rows))}"
            )
        memory = memory_rows(args, scratch) if args.memory_minutes else None
    overall = mean_rows(per_clip)
    rate_alone = generator_rate(network, size)
    suffix = nets[0][0]
    plain, steadied = overall[PER_FRAME + suffix], overall[steadied_row(args.intervals[0]) + suffix]
    precision = "bf16" if bf16_is_used(network) else "float32"
    checks = [
        f"- targets read on the row {steadied_row(args.intervals[0]) + suffix!r} against {PER_FRAME + suffix!r}",
        f"- steadied warp error / per-frame: **{steadied['warp_error'] / plain['warp_error']:.2f}×** (target ≤ 0.7×)",
        f"- CDC steadied {steadied['cdc'] * 1e3:.3g} vs per-frame {plain['cdc'] * 1e3:.3g} ×10⁻³ (target: lower)",
        f"- acc@5 % steadied − per-frame: **{(steadied['pixel_acc@5%'] - plain['pixel_acc@5%']) * 100:+.2f} points** "
        "(target: no more than 0.5 below)",
        f"- frames/s, {steadied_row(args.intervals[0])}, file to file: **{steadied['frames_per_s']:.2f}** (target ≥ 10 "
        f"at 640 x 360 on the 2-core CPU); the generator alone, batch 4, {precision}: {rate_alone:.2f} frames/s",
        "",
        "Each steadied row against per-frame, the targets side by side:",
        "",
        table(TARGETS_HEADER, target_rows(overall, plain, suffix, args.intervals)),
    ]
    if memory is not None and not args.memory_tiny:
        long_film = memory[-1]
        compiled = "compiled" if long_film[4] == "yes" else "not compiled"
        checks.append(
            f"- frames/s of the {long_film[0]} film, steadied, {compiled}, file to file (decoding, flow, encoding "
            f"and the compilation included): **{long_film[3]}**"
        )
    report = [
        "# Video colorization: flicker, accuracy, speed",
        "",
        "Made by `make bench-video` (`python -m benchmarks.video`); see `docs/video.md`.",
        "",
        f"- generator: {described}",
        f"- CPU: {cpu_description()}, {torch.get_num_threads()} torch threads",
        f"- load average (1 min) at start / end: {load_start:.2f} / {os.getloadavg()[0]:.2f}; "
        f"CPU pressure (PSI some, avg60 / avg300): {cpu_pressure()}",
        f"- clips: {clips_described(args)}, steadying strength {args.steady}",
        "- warp error: Lai et al. 2018 along **DIS** flow of the gray clip (not FlowNet2): compare within this "
        "project only; pairs across the cut are left out. CDC: JS divergence (natural log) of RGB histograms, "
        "mean of gaps 1, 2, 4.",
        "",
        "## All clips",
        "",
        table(HEADER, render_rows(overall)),
        "",
        *checks,
        "",
        "## Per clip",
        "",
        "\n\n".join(sections),
    ]
    if memory is not None:
        report += [
            "",
            "## Memory: peak resident memory of the whole process (fresh subprocess each)",
            "",
            f"Generator: {tiny_network()[2] if args.memory_tiny else described}; steadied, batch 4.",
            "",
            table(MEMORY_HEADER, memory),
        ]
    publish("\n".join(report) + "\n", args.output)
    return {"overall": overall, "per_clip": per_clip, "memory": memory}


if __name__ == "__main__":
    main()
