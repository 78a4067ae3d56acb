"""`make bench` in its tiny mode: every table, row and column is there and every number is positive.

Speeds are not asserted: they depend on the machine and on whatever else runs on it.
"""

import re

import pytest

from benchmarks import bench, common

SECTIONS = {
    "## Machine": (["", ""], ["CPU", "CPU kind", "device", "torch", "lightning"]),
    "## Training throughput": (
        [
            "generator",
            "configuration",
            "images/s",
            "speed-up vs fp32",
            "TFLOP/s",
            "share of conv peak",
            "warm-up s",
            "peak RSS (MiB)",
        ],
        ["UNet | fp32", "UNet | bf16 + channels_last", "ResNet18 UNet | fp32", "ResNet18 UNet | bf16 + channels_last"],
    ),
    "## Data pipeline": (
        ["pipeline", "training images/s", "loader alone images/s", "peak RSS (MiB)", "speed-up"],
        ["reference setup", "our default"],
    ),
    "## Lab conversion alone": (["method", "ms per batch", "images/s", "speed-up"], ["skimage", "kornia"]),
    "## Inference latency": (
        ["generator", "input (W×H)", "generator runs at (W×H)", "latency (ms)"],
        ["UNet | 32×32", "UNet | 128×96", "ResNet18 UNet | 32×32", "ResNet18 UNet | 128×96"],
    ),
    "## Start-up": (["command", "seconds"], ["import lightning", "colorize --help"]),
    "## Targets": (
        ["target", "measured", "met"],
        ["the reference setup, UNet", "fp32, UNet", "fp32, ResNet18 UNet", "slower than `import lightning`"],
    ),
}
# Cells that are text, not measurements.
TEXT_COLUMNS = {"", "generator", "configuration", "pipeline", "method", "command", "target", "met"}
# Printed to fixed decimals: a 32 px quick run on a busy machine may round them to 0.
ROUNDED_COLUMNS = {"TFLOP/s", "share of conv peak"}
NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?(e[+-]?\d+)?( ?(×|s|%))?$")


def tables(report: str) -> dict[str, list[list[str]]]:
    """Each ``## `` section's Markdown table as rows of cells, the header first (separator dropped)."""
    found, section = {}, None
    for line in report.splitlines():
        if line.startswith("## "):
            section = next((s for s in SECTIONS if line.startswith(s)), line)
            found[section] = []
        elif line.startswith("|") and section is not None and not line.startswith("|---"):
            found[section].append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return found


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> str:
    output = tmp_path_factory.mktemp("bench") / "r.md"
    bench.main(["--quick", "--device", "cpu", "--output", str(output)])
    return output.read_text()


@pytest.mark.slow
def test_quick_report_has_every_table_row_and_column(report):
    found = tables(report)
    for section, (header, row_keys) in SECTIONS.items():
        assert section in found, f"missing section {section}"
        rows = found[section]
        assert rows[0] == header, f"{section}: columns {rows[0]}"
        labels = [" | ".join(row[:2]) for row in rows[1:]]
        for key in row_keys:
            assert sum(key in label for label in labels) >= 1, f"{section}: no row {key!r} in {labels}"
        assert all(len(row) == len(header) for row in rows), f"{section}: ragged table"


@pytest.mark.slow
def test_quick_report_numbers_are_positive(report):
    for section, rows in tables(report).items():
        if section == "## Machine":
            continue
        header = rows[0]
        for row in rows[1:]:
            for column, cell in zip(header, row, strict=True):
                if column in TEXT_COLUMNS or column.startswith("input") or column.startswith("generator runs"):
                    continue
                assert NUMBER.match(cell), f"{section} / {column}: {cell!r} is not a number"
                value = float(cell.rstrip("×s% ").lstrip("+"))
                if section == "## Targets" and column == "measured":
                    continue  # a time difference may be negative
                if column in ROUNDED_COLUMNS:
                    assert value >= 0, f"{section} / {column}: {cell}"
                    continue
                assert value > 0, f"{section} / {column}: {cell}"


@pytest.mark.slow
def test_quick_report_marks_each_target(report):
    rows = tables(report)["## Targets"][1:]
    assert len(rows) == 4
    assert all(row[-1] in ("✔", "✘") for row in rows)


def test_bench_still_exports_the_helpers_other_scripts_import():
    # benchmarks/scans.py and benchmarks/video.py were written against the one-file bench.py.
    for name in ("fmt", "table", "publish", "cpu_description", "cpu_kind", "machine_info", "synchronize"):
        assert getattr(bench, name) is getattr(common, name), name


@pytest.mark.slow
def test_an_isolated_configuration_runs_in_a_fresh_process():
    cfg = {"task": "train", "generator": "UNet", "mode": "fp32", "device": "cpu"}
    cfg |= {"image_size": 32, "batch_size": 2, "warmup": 0, "iterations": 1}
    result = bench.run_config(cfg, isolate=True)
    assert len(result["rates"]) == 1 and result["rates"][0] > 0
    # The worker reports the RSS its measurement started from and the peak after it.
    assert result["peak_mib"] >= result["idle_mib"] > 0
