"""The model menu: runs found on disk, models loaded lazily, the test row beside all-gray."""

from __future__ import annotations

from pathlib import Path

import pytest

from colorize.serve.catalog import Catalog, ModelChoice, accuracy_table, find_runs, run_checkpoint, unique_choices


def test_find_runs_skips_folders_without_a_checkpoint(tmp_path):
    (tmp_path / "half" / "checkpoints").mkdir(parents=True)
    (tmp_path / "half" / "checkpoints" / "epoch=3.ckpt").write_bytes(b"")
    assert find_runs(tmp_path) == []
    assert find_runs(tmp_path / "missing") == []


def test_a_run_serves_the_checkpoint_its_test_row_was_measured_with(tmp_path):
    from colorize.results import ResultsTable

    run = tmp_path / "demo"
    (run / "checkpoints").mkdir(parents=True)
    assert run_checkpoint(run) is None
    (run / "checkpoints" / "best.ckpt").write_bytes(b"")
    assert run_checkpoint(run) == run / "checkpoints" / "best.ckpt"
    (run / "checkpoints" / "last.ckpt").write_bytes(b"")
    assert run_checkpoint(run) == run / "checkpoints" / "last.ckpt"  # the final generator, as the paper
    # results.json says which one its rows belong to (measured elsewhere: only the name counts).
    ResultsTable(metadata={"checkpoint": "/elsewhere/demo/checkpoints/best.ckpt"}).save_json(run / "results.json")
    assert run_checkpoint(run) == run / "checkpoints" / "best.ckpt"
    (run / "checkpoints" / "best.ckpt").unlink()
    assert run_checkpoint(run) == run / "checkpoints" / "last.ckpt"


def test_accuracy_table_orders_accuracies_and_keeps_missing_values():
    info = {
        "results": {
            "model": {"pixel_acc@5%": 0.7, "pixel_acc@2%": 0.4, "pixel_acc@10%": 0.9, "psnr": 21.0},
            "all-gray": {"pixel_acc@2%": 0.35, "pixel_acc@5%": 0.6},
            "checkpoint": "runs/demo/checkpoints/best.ckpt",
        }
    }
    table = accuracy_table(info)
    assert [row["metric"] for row in table["accuracy"]] == ["pixel_acc@2%", "pixel_acc@5%", "pixel_acc@10%"]
    assert table["accuracy"][0] == {"metric": "pixel_acc@2%", "model": 0.4, "gray": 0.35}
    assert table["accuracy"][2]["gray"] is None
    assert table["measured_with"] == "runs/demo/checkpoints/best.ckpt"
    assert accuracy_table({}) == accuracy_table(None) == {"accuracy": [], "measured_with": None}


def test_models_load_on_first_use_and_only_the_recent_ones_stay():
    loads = []

    def loader(path, device):
        loads.append(str(path))
        return object()

    catalog = Catalog([ModelChoice(n, Path(n)) for n in "abc"], keep_loaded=2, loader=loader)
    assert loads == []
    first = catalog.get(0)
    assert catalog.get(0) is first and loads == ["a"]
    catalog.get(1)
    catalog.get(2)  # evicts a, the least recently used
    catalog.get(1)
    catalog.get(0)
    assert loads == ["a", "b", "c", "a"]


def test_index_names_a_bad_choice():
    catalog = Catalog([ModelChoice("a", Path("a"))], loader=lambda path, device: None)
    assert catalog.index(None) == catalog.index("") == catalog.index("0") == 0
    for bad in ("1", "-1", "a"):
        with pytest.raises(KeyError, match=f"no model '{bad}'"):
            catalog.index(bad)
    with pytest.raises(ValueError, match="unique"):
        Catalog([ModelChoice("a", Path("a")), ModelChoice("a", Path("b"))])


def test_unique_choices_drops_repeats_and_tells_same_labels_apart(tmp_path):
    one, two = tmp_path / "x" / "best.ckpt", tmp_path / "y" / "best.ckpt"
    choices = unique_choices([ModelChoice("best", one), ModelChoice("best", two), ModelChoice("again", one)])
    # Told apart by the folder they lie in, never by the absolute path of this machine.
    assert choices == [ModelChoice("x/best.ckpt", one), ModelChoice("y/best.ckpt", two)]
