"""benchmarks/predict.py at tiny sizes: its table's shape, and batched fp32 == one at a time."""

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_runs import colourful_unet

from benchmarks import predict
from benchmarks.predict import PATHS, measure, render, sample_photos, synthetic_photos
from colorize.inference import full_resolution

SIZES = [(40, 56), (36, 50), (56, 40)]  # the first two share a working size at 16 px, stride 4


def test_measure_and_render_a_tiny_run(monkeypatch):
    # The bf16 columns on every CPU (where bf16 is emulated, colorize itself runs float32: colorize/models/bf16.py).
    monkeypatch.setattr(full_resolution, "cpu_has_native_bf16", lambda: True)
    photos = synthetic_photos(4, SIZES)
    assert [tuple(p.shape) for p in photos] == [(3, 40, 56), (3, 36, 50), (3, 56, 40), (3, 40, 56)]
    result = measure(colourful_unet(base_width=4), photos, target_size=16, batch_size=3, repeats=1)

    assert set(result["photos_per_s"]) == set(PATHS) and all(v > 0 for v in result["photos_per_s"].values())
    assert result["bf16_used"]
    assert result["max_batched_vs_single"] <= 1  # batched fp32 is one-at-a-time fp32 up to float rounding
    d = result["bf16_vs_fp32"]
    assert 0 <= d["mean_dL"] <= d["worst_photo_dL"] <= d["max_dL"] and d["mean_dL"] <= 0.5
    assert 0 < d["mean_de00"] <= d["max_de00"]  # bf16 changed something, and CIEDE2000 saw it

    lines = render({"tiny": result, "tiny again": result}, "header").splitlines()
    speed, colour = lines[2:6], lines[7:11]
    assert lines[0] == "header" and lines[1] == "" and lines[6] == ""
    assert [line.count("|") for line in speed] == [9] * 4 and [line.count("|") for line in colour] == [10] * 4
    assert set(speed[1]) == set("|-") and speed[2].startswith("| tiny | ") and speed[3].startswith("| tiny again | ")
    rate = result["photos_per_s"]
    cells = [cell.strip() for cell in speed[2].split("|")[2:-1]]
    assert cells == [f"{rate[p]:.3g}" for p in PATHS] + [f"{rate[p] / rate[PATHS[0]]:.3g}×" for p in PATHS[1:]]


def test_sample_photos_take_from_each_folder_in_turn_and_skip_bad_files(tmp_path):
    for folder, names in (("one", ["a.png", "b.jpg", "c.png"]), ("two", ["x.png"])):
        (tmp_path / folder).mkdir()
        for index, name in enumerate(names):
            if name.endswith(".jpg"):
                (tmp_path / folder / name).write_bytes(b"unreadable")
            else:
                Image.fromarray(np.full((4 + index, 6, 3), index, dtype=np.uint8)).save(tmp_path / folder / name)
    photos = sample_photos(5, [tmp_path / "one", tmp_path / "two", tmp_path / "absent"])
    assert [tuple(p.shape) for p in photos] == [(3, 4, 6), (3, 4, 6), (3, 6, 6)]  # a, x, then c (b is unreadable)


def test_main_prints_both_tables_for_every_generator(monkeypatch, capsys):
    monkeypatch.setattr(predict, "SYNTHETIC_SIZES", SIZES)
    monkeypatch.setattr(predict, "GENERATORS", {"UNet": lambda: colourful_unet(base_width=4)})
    results = predict.main(["--synthetic", "--photos", "3", "--image-size", "16", "--repeats", "1"])
    out = capsys.readouterr().out
    assert list(results) == ["UNet (random init)"]
    assert out.startswith("3 photos") and out.count("| UNet (random init) |") == 2


@pytest.mark.parametrize("count", [1, 7])
def test_synthetic_photos_are_uint8_and_cycle_through_sizes(count):
    photos = synthetic_photos(count, SIZES, seed=1)
    assert len(photos) == count and all(p.dtype == torch.uint8 for p in photos)
    assert [tuple(p.shape[1:]) for p in photos] == [SIZES[i % 3] for i in range(count)]
