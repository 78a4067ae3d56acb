"""The hint sweep: fixed test hints, the nearest-hint fill, Levin et al. 2004, and the rows of `colorize test`."""

from __future__ import annotations

import json

import torch
from tiny_runs import tiny_run_args

from colorize.evaluation.hints import levin_colorize, nearest_hint_fill, sweep_hints, sweep_patch_size


def two_regions(size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """L dark on the left, light on the right; ab reddish left, bluish right."""
    L = torch.full((1, 1, size, size), -0.6)
    L[..., size // 2 :] = 0.6
    ab = torch.zeros(1, 2, size, size)
    ab[:, 0, :, : size // 2], ab[:, 1, :, size // 2 :] = 0.4, -0.3
    return L, ab


def hint_at(size: int, points: list[tuple[int, int, float, float]]) -> torch.Tensor:
    hints = torch.zeros(1, 3, size, size)
    for y, x, a, b in points:
        hints[0, :, y, x] = torch.tensor([a, b, 1.0])
    return hints


def test_sweep_hints_follow_zhangs_protocol_fixed_per_photo_and_nested():
    ab = torch.rand(3, 2, 128, 128) * 2 - 1
    index = torch.tensor([4, 7, 9])
    ten = sweep_hints(ab, index, 10)
    assert sweep_patch_size(128) == 3 and sweep_patch_size(256) == 6
    # Fixed by (seed, photo index): the same photo alone in a batch gets the same hints.
    assert torch.equal(sweep_hints(ab[1:2], index[1:2], 10), ten[1:2])
    assert not torch.equal(sweep_hints(ab, index, 10, seed=1), ten)
    five = sweep_hints(ab, index, 5)
    assert ((five[:, 2] > 0) <= (ten[:, 2] > 0)).all() and 0 < five[:, 2].sum() < ten[:, 2].sum()
    assert ten[:, 2].sum((1, 2)).max() <= 10 * 9 and not sweep_hints(ab, index, 0).any()


def test_nearest_hint_fill_takes_the_nearest_hints_colour():
    filled = nearest_hint_fill(hint_at(16, [(2, 2, 0.5, -0.5), (13, 13, -0.2, 0.3)]))
    assert torch.allclose(filled[0, :, 0, 0], torch.tensor([0.5, -0.5]))
    assert torch.allclose(filled[0, :, 15, 10], torch.tensor([-0.2, 0.3]))
    assert not nearest_hint_fill(torch.zeros(1, 3, 8, 8)).any()


def test_levin_spreads_a_hint_within_its_region_and_stops_at_edges():
    L, _ = two_regions()
    ab = levin_colorize(L, hint_at(32, [(16, 4, 0.4, 0.0), (16, 28, 0.0, -0.3)]))
    # Each hint keeps its value and fills its own side; the lightness edge keeps the two apart.
    assert torch.allclose(ab[0, :, 16, 4], torch.tensor([0.4, 0.0]))
    assert torch.allclose(ab[0, :, :, :14], torch.tensor([0.4, 0.0]).view(2, 1, 1).expand(2, 32, 14), atol=0.02)
    assert torch.allclose(ab[0, :, :, 18:], torch.tensor([0.0, -0.3]).view(2, 1, 1).expand(2, 32, 14), atol=0.02)
    # The nearest fill ignores the edge: the right hint's colour does not reach all of the right side.
    flat = torch.zeros(1, 1, 32, 32)
    one = levin_colorize(flat, hint_at(32, [(3, 3, 0.25, -0.1)]))
    assert torch.allclose(one, torch.tensor([0.25, -0.1]).view(1, 2, 1, 1).expand(1, 2, 32, 32), atol=1e-6)
    assert not levin_colorize(flat, torch.zeros(1, 3, 32, 32)).any()


def test_colorize_test_sweeps_hints_for_a_hint_model(photo_folder, tmp_path):
    from colorize.cli import run_cli
    from colorize.evaluation.compare import compare_runs

    run = tmp_path / "hinted"
    hints = ["--model.generator.init_args.hints=true", "--model.discriminator.init_args.in_channels=6"]
    hints += ["--data.hints=true", "--data.image_size=64"]
    run_cli(["fit", *tiny_run_args(photo_folder, run, *hints)])
    run_cli(["test", *tiny_run_args(photo_folder, run, *hints, "--evaluation.hint_counts=[0, 1, 5]")])
    results = json.loads((run / "results.json").read_text())
    rows = results["rows"]
    methods = ("hinted", "nearest-hint fill", "edge-aware spread", "Levin et al. 2004")
    expected = {f"{m}, {n}" for m in methods for n in ("1 hint", "5 hints")}
    assert expected | {"hinted", "all-gray"} == set(rows)
    assert results["metadata"]["hint_counts"] == [0, 1, 5] and results["metadata"]["hint_patch_px"] == 2
    assert rows["nearest-hint fill, 5 hints"] != rows["all-gray"]
    assert rows["edge-aware spread, 5 hints"] not in (rows["all-gray"], rows["nearest-hint fill, 5 hints"])
    assert (run / "hint_curves.png").stat().st_size > 1000
    assert "Levin et al. 2004, 5 hints" in compare_runs([run])
