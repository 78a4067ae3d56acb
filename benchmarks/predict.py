"""Photos per second of `colorize predict` over a folder of full-resolution photos, and what bf16 costs in colour.

    python -m benchmarks.predict                         # 24 sample photos, UNet and ResNet18 UNet
    python -m benchmarks.predict --checkpoint runs/sample/advanced/checkpoints/last.ckpt

Four ways to colorize the same photos, each through :mod:`colorize.inference.full_resolution`:

- *one at a time, fp32*: :func:`colorize_image` per photo with ``bf16=False``, what ``colorize
  predict`` did before it batched (batch size 1, no autocast);
- *batched, fp32*: :func:`colorize_images` on consecutive chunks of ``--batch-size`` photos, as the
  predict dataloader hands them over (sorted paths, so chunks mix sizes the way a folder does),
  with its default split of large groups (:data:`colorize.inference.full_resolution.CPU_PASS_PIXELS` on the CPU);
- *one at a time, bf16*: the first with the generator's forward pass under bf16 autocast, which
  tells what bf16 alone gives;
- *batched, bf16*: the second under bf16 autocast: what ``colorize predict`` does now.

Timings are the median of ``--repeats`` rounds after one warm-up, the three paths interleaved
within each round so a burst of load from other processes slows all of them a little rather
than one a lot. Decoding the files is not timed (the dataloader's workers do it in parallel).

The colour cost of bf16 compares the bf16 output with the fp32 output of the same photos,
pixel by pixel, in CIE Lab (kornia for L* and a*b*, scikit-image for CIEDE2000). The speed
issue's criterion is a mean |ΔL*| of at most 0.5; L* of both outputs is the input's up to
gamut clipping and uint8 rounding, so ab and CIEDE2000 are where bf16 shows, if anywhere.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a hub lookup with no network stalls ~46 s

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from kornia.color import rgb_to_lab  # noqa: E402
from torch import nn  # noqa: E402

from benchmarks.common import publish, table  # noqa: E402
from colorize.data.dataset import PredictPhotoDataset  # noqa: E402
from colorize.data.images import find_images  # noqa: E402
from colorize.inference.full_resolution import bf16_is_used, colorize_image, colorize_images  # noqa: E402
from colorize.models.resnet_unet import ResNetUNet  # noqa: E402
from colorize.models.unet import UNet  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SAMPLE_FOLDERS = (REPO / "data" / "sample" / "mvtb-data", REPO / "data" / "sample" / "scratch")

GENERATORS: dict[str, Callable[[], nn.Module]] = {
    "UNet": UNet,
    "ResNet18 UNet": lambda: ResNetUNet("resnet18", pretrained=False),
}

#: (H, W) of the synthesized photos when the sample folders are absent: the sample's mix of camera sizes.
SYNTHETIC_SIZES = ((1200, 1600), (851, 1280), (360, 480), (1600, 1200), (426, 640))

ONE_FP32, BATCHED_FP32 = "one at a time, fp32", "batched, fp32"
ONE_BF16, BATCHED_BF16 = "one at a time, bf16", "batched, bf16"
PATHS = (ONE_FP32, BATCHED_FP32, ONE_BF16, BATCHED_BF16)


def sample_photos(count: int, folders: Sequence[Path] = SAMPLE_FOLDERS) -> list[torch.Tensor]:
    """The first ``count`` photos of ``folders`` in sorted order (as ``colorize predict`` reads them), uint8 (3, H, W).

    Taken from each folder in turn, so both the large mixed-size photos of mvtb-data and the
    uniform 480 x 360 ones of scratch are in. Fewer come back if the folders hold fewer.
    """
    per_folder = [PredictPhotoDataset(find_images(f)) for f in folders if f.is_dir()]
    photos: list[torch.Tensor] = []
    for index in range(count):
        for dataset in per_folder:
            if len(photos) < count and index < len(dataset):
                item = dataset[index]
                if "skip" not in item:
                    photos.append(item["image"])
    return photos


def synthetic_photos(count: int, sizes: Sequence[tuple[int, int]], seed: int = 0) -> list[torch.Tensor]:
    """``count`` photo-like uint8 (3, H, W) images cycling through ``sizes``: smooth colour plus noise."""
    g = torch.Generator().manual_seed(seed)
    photos = []
    for index in range(count):
        height, width = sizes[index % len(sizes)]
        smooth = F.interpolate(torch.rand(1, 3, 6, 5, generator=g), size=(height, width), mode="bicubic")
        noise = 0.03 * torch.randn(1, 3, height, width, generator=g)
        photos.append(((smooth + noise).clamp(0, 1) * 255).round().to(torch.uint8)[0])
    return photos


def colorize_all(
    generator: nn.Module, photos: Sequence[torch.Tensor], path: str, *, target_size: int, batch_size: int
) -> list[torch.Tensor]:
    """Every photo colorized by one of :data:`PATHS`, in order, on the CPU."""
    bf16 = path in (ONE_BF16, BATCHED_BF16)
    if path in (ONE_FP32, ONE_BF16):
        return [colorize_image(generator, p, target_size=target_size, bf16=bf16).cpu() for p in photos]
    out: list[torch.Tensor] = []
    for start in range(0, len(photos), batch_size):
        chunk = photos[start : start + batch_size]
        out += [o.cpu() for o in colorize_images(generator, chunk, target_size=target_size, bf16=bf16)]
    return out


def colour_difference(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> dict[str, float]:
    """Pixelwise differences of two lists of uint8 sRGB images in CIE Lab, pooled over every pixel.

    Returns ``mean_dL``/``max_dL`` (|ΔL*|), ``mean_dab``/``max_dab`` (Euclidean Δa*b*),
    ``mean_de00``/``max_de00`` (CIEDE2000) and ``worst_photo_dL`` (the largest per-photo mean |ΔL*|).
    """
    from skimage.color import deltaE_ciede2000

    sums = {"dL": 0.0, "dab": 0.0, "de00": 0.0}
    maxima = {"dL": 0.0, "dab": 0.0, "de00": 0.0}
    worst_photo, pixels = 0.0, 0
    for x, y in zip(a, b, strict=True):
        lab_x, lab_y = (rgb_to_lab(t.double()[None] / 255.0)[0] for t in (x, y))
        diffs = {
            "dL": (lab_x[0] - lab_y[0]).abs(),
            "dab": (lab_x[1:] - lab_y[1:]).square().sum(0).sqrt(),
            "de00": torch.from_numpy(deltaE_ciede2000(lab_x.permute(1, 2, 0).numpy(), lab_y.permute(1, 2, 0).numpy())),
        }
        for key, d in diffs.items():
            sums[key] += d.sum().item()
            maxima[key] = max(maxima[key], d.max().item())
        worst_photo = max(worst_photo, diffs["dL"].mean().item())
        pixels += diffs["dL"].numel()
    result = {f"mean_{k}": v / max(pixels, 1) for k, v in sums.items()}
    return result | {f"max_{k}": v for k, v in maxima.items()} | {"worst_photo_dL": worst_photo}


def measure(
    generator: nn.Module, photos: Sequence[torch.Tensor], *, target_size: int, batch_size: int, repeats: int
) -> dict:
    """Photos/s of every path (median of interleaved rounds), and bf16's colour cost against fp32.

    Also ``max_batched_vs_single``: the largest uint8 difference between batched fp32 and one-at-a-time
    fp32 outputs (float rounding of differently blocked convolutions may flip a level, nothing more).
    """
    generator.eval()
    times: dict[str, list[float]] = {p: [] for p in PATHS}
    outputs: dict[str, list[torch.Tensor]] = {}
    for round_ in range(repeats + 1):  # round 0 warms up (and keeps the outputs to compare)
        for path in PATHS:
            start = time.perf_counter()
            out = colorize_all(generator, photos, path, target_size=target_size, batch_size=batch_size)
            elapsed = time.perf_counter() - start
            if round_ == 0:
                outputs[path] = out
            else:
                times[path].append(elapsed)
    photos_per_s = {p: len(photos) / statistics.median(t) for p, t in times.items()}
    batched_vs_single = max(
        (x.int() - y.int()).abs().max().item() for x, y in zip(outputs[ONE_FP32], outputs[BATCHED_FP32], strict=True)
    )
    return {
        "photos_per_s": photos_per_s,
        "bf16_used": bf16_is_used(generator),
        "max_batched_vs_single": batched_vs_single,
        "bf16_vs_fp32": colour_difference(outputs[BATCHED_BF16], outputs[BATCHED_FP32]),
    }


def render(results: dict[str, dict], header: str = "") -> str:
    """Two Markdown tables: photos/s with speed-ups over one-at-a-time fp32, and bf16's colour difference."""
    speed_header = ["generator", *(f"{p} (photos/s)" for p in PATHS), *(f"speed-up {p}" for p in PATHS[1:])]
    colour_header = [
        "generator",
        "mean abs ΔL*",
        "max abs ΔL*",
        "worst photo's mean abs ΔL*",
        "mean Δa*b*",
        "max Δa*b*",
        "mean CIEDE2000",
        "max CIEDE2000",
        "batched vs single fp32 (max uint8 step)",
    ]
    speed, colour = [], []
    for name, r in results.items():
        rate = r["photos_per_s"]
        base = rate[ONE_FP32]
        speed.append([name, *(f"{rate[p]:.3g}" for p in PATHS), *(f"{rate[p] / base:.3g}×" for p in PATHS[1:])])
        d = r["bf16_vs_fp32"]
        colour.append(
            [name, f"{d['mean_dL']:.3f}", f"{d['max_dL']:.2f}", f"{d['worst_photo_dL']:.3f}", f"{d['mean_dab']:.3f}"]
            + [f"{d['max_dab']:.2f}", f"{d['mean_de00']:.3f}", f"{d['max_de00']:.2f}", str(r["max_batched_vs_single"])]
        )
    tables = [table(speed_header, speed), table(colour_header, colour)]
    return "\n".join([header, "", tables[0], "", tables[1]]).strip() + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.predict", description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=24, help="photos from data/sample (default 24)")
    parser.add_argument("--image-size", type=int, default=256, help="the training size of the random-init generators")
    parser.add_argument("--batch-size", type=int, default=8, help="photos per predict batch (data.predict_batch_size)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds after one warm-up (median)")
    parser.add_argument("--checkpoint", action="append", default=[], help="also a trained run (.ckpt or export)")
    parser.add_argument("--no-random", action="store_true", help="only the --checkpoint generators")
    parser.add_argument("--synthetic", action="store_true", help="synthesized photos of mixed sizes, not the sample")
    parser.add_argument("--output", type=Path, help="also write the report to this file")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, dict]:
    """Measure every generator, print the Markdown report, return the raw results."""
    args = parse_args(argv)
    photos = [] if args.synthetic else sample_photos(args.photos)
    if not photos:
        photos = synthetic_photos(args.photos, SYNTHETIC_SIZES)
    generators: dict[str, tuple[nn.Module, int]] = {}
    if not args.no_random:
        for name, factory in GENERATORS.items():
            torch.manual_seed(0)
            generators[f"{name} (random init)"] = (factory(), args.image_size)
    for checkpoint in args.checkpoint:
        from colorize.inference.colorizer import load_colorizer

        colorizer = load_colorizer(checkpoint)
        generators[f"{colorizer.name} ({Path(checkpoint).name})"] = (colorizer.generator, colorizer.image_size)
    results = {
        name: measure(net, photos, target_size=size, batch_size=args.batch_size, repeats=args.repeats)
        for name, (net, size) in generators.items()
    }
    megapixels = sum(p.shape[-1] * p.shape[-2] for p in photos) / len(photos) / 1e6
    command = " ".join(["python -m benchmarks.predict", *(sys.argv[1:] if argv is None else argv)])
    header = (
        f"{len(photos)} photos ({megapixels:.2f} MP on average), batch size {args.batch_size}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), load average at the end "
        f"{os.getloadavg()[0]:.2f}; command: `{command}`"
    )
    publish(render(results, header), args.output)
    return results


if __name__ == "__main__":
    main()
