"""`make bench-gpu` in its CPU quick mode: every planned row is measured or listed as skipped, and the numbers agree.

Speeds are not asserted (they depend on the machine and its load); the relations between a row's
numbers are: images/s × s/iteration is the batch, fp32 is its own baseline, the loader is compared
with the fastest training row, and a row the budget cannot fit is skipped rather than run.
"""

import importlib
import importlib.util
import math
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
GENERATORS = ["UNet", "ResNet18 UNet"]
CONFIGURATIONS = ["fp32", "bf16 + channels_last", "bf16 + channels_last + torch.compile"]
TRAIN_HEADER = [
    "generator",
    "batch",
    "configuration",
    "images/s",
    "s/iteration",
    "speed-up vs fp32",
    "warm-up (s)",
    "timed iterations",
    "peak RSS (MiB, process)",
    "GPU util (%)",
    "GPU memory used (MiB)",
    "note",
]
LOADER_HEADER = [
    "loader workers",
    "batch",
    "loader alone images/s",
    "fastest training images/s",
    "loader / training",
    "verdict",
]


@pytest.fixture(scope="module")
def one_thread():
    """--quick is sized for one CPU thread: two on a busy 2-core machine spin-wait for each other, 5-10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def gpu():
    # benchmarks/ is not part of the installed package: import it as a package from its folder.
    if "benchmarks" not in sys.modules:
        folder = REPO / "benchmarks"
        spec = importlib.util.spec_from_file_location(
            "benchmarks", folder / "__init__.py", submodule_search_locations=[str(folder)]
        )
        package = importlib.util.module_from_spec(spec)
        sys.modules["benchmarks"] = package
        spec.loader.exec_module(package)
    return importlib.import_module("benchmarks.gpu")


def sections(report: str) -> dict[str, list[list[str]]]:
    """Each ``## `` section's table as rows of cells (header first, separator dropped), or its bullet lines."""
    found: dict[str, list[list[str]]] = {}
    section = None
    for line in report.splitlines():
        if line.startswith("## "):
            section = line[3:].split(":")[0]
            found[section] = []
        elif section and line.startswith("|") and not line.startswith("|---"):
            found[section].append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif section and line.startswith("- "):
            found[section].append([line[2:]])
    return found


def number(cell: str) -> float:
    value = float(cell.rstrip("×"))
    assert math.isfinite(value) and value > 0, cell
    return value


def run(gpu, tmp_path, *args: str) -> tuple[dict, dict[str, list[list[str]]]]:
    output = tmp_path / "gpu.md"
    state = gpu.main(["--quick", "--device", "cpu", "--output", str(output), *args])
    return state, sections(output.read_text())


@pytest.fixture(scope="module")
def quick(gpu, one_thread, tmp_path_factory):
    return run(gpu, tmp_path_factory.mktemp("gpu"), "--batch-sizes", "2", "4")


@pytest.mark.slow
def test_every_planned_row_appears_once(quick):
    _, found = quick
    train = found["Training throughput"]
    assert train[0] == TRAIN_HEADER
    assert all(len(row) == len(TRAIN_HEADER) for row in train)
    keys = [tuple(row[:3]) for row in train[1:]]
    expected = [(g, b, c) for g in GENERATORS for b in ("2", "4") for c in CONFIGURATIONS]
    assert sorted(keys) == sorted(expected)
    loader = found["Loader alone vs training"]
    # One loader row per worker count, at the largest batch; --quick uses no workers.
    assert loader[0] == LOADER_HEADER and [row[:2] for row in loader[1:]] == [["0", "4"]]


@pytest.mark.slow
def test_measured_rows_are_consistent(quick):
    _, found = quick
    rows = {tuple(row[:3]): dict(zip(TRAIN_HEADER, row, strict=True)) for row in found["Training throughput"][1:]}
    for (generator, batch, configuration), row in rows.items():
        if configuration.endswith("torch.compile"):
            continue
        images_per_s, s_per_iteration = number(row["images/s"]), number(row["s/iteration"])
        # Both from the same window: their product is the images of one iteration, the batch (3 digits each).
        assert images_per_s * s_per_iteration == pytest.approx(int(batch), rel=0.02)
        assert row["timed iterations"] == "1"  # --quick: 1 warm-up + 1 timed
        number(row["warm-up (s)"])
        number(row["peak RSS (MiB, process)"])
        assert row["GPU util (%)"] == "n/a"  # no CUDA device: nothing to sample, and it says so
        fp32 = rows[generator, batch, "fp32"]
        expected = images_per_s / number(fp32["images/s"])
        assert number(row["speed-up vs fp32"]) == pytest.approx(expected, rel=0.02)
        if configuration == "fp32":
            assert row["speed-up vs fp32"] == "1×"


@pytest.mark.slow
def test_compile_rows_are_skipped_on_cpu_and_listed(quick):
    state, found = quick
    compiled = [row for row in found["Training throughput"][1:] if row[2].endswith("torch.compile")]
    assert len(compiled) == 4
    for row in compiled:
        assert row[3:-1] == ["—"] * 8 and "--compile-on-cpu" in row[-1]
    skipped = [line[0] for line in found["Skipped"]]
    assert len(skipped) == 4 and all("torch.compile" in line for line in skipped)
    measured = [r for r in state["plan"] if "images_per_s" in state["results"][r]]
    assert len(measured) == len(state["plan"]) - 4


@pytest.mark.slow
def test_loader_is_compared_with_the_fastest_training_row(quick):
    _, found = quick
    train = [row for row in found["Training throughput"][1:] if row[3] != "—"]
    fastest = max(train, key=lambda row: number(row[3]))[3]
    (workers, batch, alone, best, share, verdict) = found["Loader alone vs training"][1]
    assert best == fastest
    assert number(share) == pytest.approx(number(alone) / number(best), rel=0.02)
    assert verdict == ("starved" if number(alone) < number(best) else "keeps up")


@pytest.mark.slow
def test_zero_budget_skips_every_row(gpu, one_thread, tmp_path):
    state, found = run(gpu, tmp_path, "--budget-s", "0")
    assert not any("images_per_s" in result for result in state["results"].values())
    train = found["Training throughput"][1:]
    assert len(train) == 6 and all(row[3] == "—" for row in train)
    assert all(("budget" in row[-1]) != row[2].endswith("torch.compile") for row in train)
    assert found["Loader alone vs training"][1][-1].startswith("skipped: budget")
    assert len(found["Skipped"]) == len(state["plan"]) == 7


@pytest.mark.slow
def test_a_row_whose_estimate_does_not_fit_is_skipped(gpu, one_thread, tmp_path, monkeypatch):
    # The loader is planned after the eager rows: with an estimate far past the budget it alone is skipped.
    monkeypatch.setitem(gpu.PRIOR_S, "loader", 1e6)
    _, found = run(gpu, tmp_path, "--budget-s", "300", "--generators", "UNet")
    eager = [row for row in found["Training throughput"][1:] if not row[2].endswith("torch.compile")]
    assert len(eager) == 2 and all(number(row[3]) for row in eager)
    loader = found["Loader alone vs training"][1]
    assert loader[2] == "—" and loader[-1].startswith("skipped: budget (needs ~1000000 s")


def test_plan_puts_the_expensive_rows_last(gpu):
    rows = gpu.plan(GENERATORS, [16, 64], [2, 8])
    kinds = [row.kind for row in rows]
    assert kinds == ["train"] * 8 + ["loader"] * 2 + ["compile"] * 4
    assert [row.batch for row in rows[:8]] == [16] * 4 + [64] * 4  # the paper's batch first
    assert {(r.generator, r.batch, r.mode.name) for r in rows if r.kind != "loader"} == {
        (g, b, c) for g in GENERATORS for b in (16, 64) for c in CONFIGURATIONS
    }
    assert all(row.batch == 64 for row in rows if row.kind == "loader")


def test_budget_estimates_a_row_from_the_last_row_like_it(gpu):
    now = [0.0]
    budget = gpu.Budget(30.0, margin=1.5, clock=lambda: now[0])
    assert budget.fits("train", 10.0) and not budget.fits("compile UNet", 100.0)
    now[0] = 4.0
    budget.record("train", 4.0)
    assert budget.estimate("train", 10.0) == 6.0 and budget.estimate("loader", 5.0) == 5.0
    now[0] = 24.0
    assert budget.fits("train", 10.0) and budget.fits("loader", 5.0)  # 24 + 6 and 24 + 5: at most 30
    now[0] = 24.5
    assert not budget.fits("train", 10.0) and budget.fits("loader", 5.0)


def test_a_compilation_is_estimated_from_the_same_generator(gpu):
    rows = [row for row in gpu.plan(GENERATORS, [16, 64], [2]) if row.kind == "compile"]
    budget = gpu.Budget(1000.0, margin=1.0, clock=lambda: 0.0)
    budget.record(rows[0].alike, 40.0)  # UNet, batch 16
    estimates = {(r.generator, r.batch): budget.estimate(r.alike, 120.0) for r in rows}
    assert estimates == {
        ("UNet", 16): 40.0,
        ("ResNet18 UNet", 16): 120.0,
        ("UNet", 64): 40.0,
        ("ResNet18 UNet", 64): 120.0,
    }
