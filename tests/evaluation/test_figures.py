"""Comparison grids in the paper's layout, and atomic PNG saving."""

import os

import numpy as np
import pytest
import torch
from PIL import Image

from colorize.color import normalized_lab_to_rgb, rgb_to_normalized_lab, to_uint8_image
from colorize.evaluation.figures import comparison_grid
from colorize.inference.image_files import save_image_png

H, W, PAD = 12, 10, 2


def batch(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(L, ab, rgb) of ``n`` random uint8 images of H x W."""
    rgb = torch.randint(0, 256, (n, 3, H, W), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))
    L, ab = rgb_to_normalized_lab(rgb)
    return L, ab, rgb


def read_png(path) -> torch.Tensor:
    return torch.from_numpy(np.array(Image.open(path))).permute(2, 0, 1)


def tile(grid: torch.Tensor, row: int, col: int) -> torch.Tensor:
    top, left = PAD + row * (H + PAD), PAD + col * (W + PAD)
    return grid[:, top : top + H, left : left + W]


def test_grid_shape_and_rows():
    L, ab_true, rgb = batch(5)
    ab_pred = 0.5 * ab_true
    grid = comparison_grid(L, ab_pred, ab_true, max_images=4, padding=PAD)

    assert grid.dtype == torch.uint8
    assert grid.shape == (3, 3 * (H + PAD) + PAD, 4 * (W + PAD) + PAD)
    for col in range(4):
        gray = tile(grid, 0, col)
        assert torch.equal(gray[0], gray[1]) and torch.equal(gray[1], gray[2])
        assert torch.equal(tile(grid, 1, col), to_uint8_image(normalized_lab_to_rgb(L[col], ab_pred[col])))
        # Ground truth row: the original photo, up to one level of Lab round-trip rounding.
        assert (tile(grid, 2, col).int() - rgb[col].int()).abs().max() <= 1


def test_grid_gray_row_has_the_input_lightness():
    L, ab_true, rgb = batch(2)
    gray = tile(comparison_grid(L, ab_true, ab_true, padding=PAD), 0, 1)
    L_gray, ab_gray = rgb_to_normalized_lab(gray)
    assert ab_gray.abs().max() < 1e-3
    assert (L_gray - L[1]).abs().max() * 50 < 0.5  # L* units, uint8 rounding


def test_grid_several_prediction_rows_and_no_ground_truth():
    L, ab, _ = batch(3)
    grid = comparison_grid(L, {"model": ab, "baseline": torch.zeros_like(ab)}, None, padding=PAD)
    assert grid.shape == (3, 3 * (H + PAD) + PAD, 3 * (W + PAD) + PAD)
    baseline = tile(grid, 2, 0)
    assert (baseline.int() - tile(grid, 0, 0).int()).abs().max() <= 1  # ab = 0 is the gray row
    assert comparison_grid(L, [ab, ab], ab, padding=PAD).shape[1] == 4 * (H + PAD) + PAD


def test_grid_rejects_mismatched_shapes():
    L, ab, _ = batch(2)
    with pytest.raises(ValueError, match="does not match"):
        comparison_grid(L, ab[:1], ab)
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        comparison_grid(ab, ab, ab)


def test_save_image_png_round_trip_and_atomic(tmp_path, monkeypatch):
    _, _, rgb = batch(1)
    path = tmp_path / "sub" / "grid.png"
    save_image_png(rgb[0], path)
    assert torch.equal(read_png(path), rgb[0])
    assert os.listdir(path.parent) == ["grid.png"]

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", fail)
    with pytest.raises(OSError, match="disk full"):
        save_image_png(torch.zeros_like(rgb[0]), path)
    assert os.listdir(path.parent) == ["grid.png"]  # no temp file left, the old image untouched
    monkeypatch.undo()
    assert torch.equal(read_png(path), rgb[0])


def test_save_image_png_rejects_float():
    with pytest.raises(ValueError, match="uint8"):
        save_image_png(torch.zeros(3, 4, 4), "unused.png")
