"""`make profile` in its tiny mode."""

from __future__ import annotations

import pytest

from benchmarks.op_profile import main as profile_main


@pytest.mark.slow
def test_quick_profile_lists_the_top_operators_with_their_shares(tmp_path):
    output = tmp_path / "p.md"
    results = profile_main(["--quick", "--device", "cpu", "--generator", "UNet", "--top", "5", "--output", str(output)])
    (key,) = results
    rows = results[key]["rows"]
    assert len(rows) == 5
    assert all(0 <= r["share"] <= 1 for r in rows) and sum(r["share"] for r in rows) <= 1 + 1e-9
    assert [r["ms"] for r in rows] == sorted((r["ms"] for r in rows), reverse=True)
    assert any(r["op"].startswith("aten::") and "conv" in r["op"] for r in rows)  # a GAN step is convolutions
    assert results[key]["flops"] > 0 and results[key]["seconds"] > 0
    report = output.read_text()
    assert "## UNet, bf16 + channels_last: 32 px, batch 2" in report and "TFLOP/s" in report
