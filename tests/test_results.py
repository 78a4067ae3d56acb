"""Results tables, run comparison and the (corrected) paper table."""

import os

import pytest
import torch

from colorize.evaluation.compare import PAPER_RESULTS, compare_runs, main, paper_table_markdown
from colorize.results import GRAY_ROW, ResultsTable

TEST_SET = {"split_file": "splits/test.txt", "num_test_images": 500, "image_size": 256}
GRAY = {"pixel_acc_5": 0.61, "pixel_acc_2": 0.33, "l1": 0.0712}


def results(name=None, acc2=0.4, acc5=0.7, gray=GRAY, **test_set) -> ResultsTable:
    metadata = {**TEST_SET, "checkpoint": "last.ckpt", **test_set}
    table = ResultsTable(metadata={**metadata, "name": name} if name else metadata)
    table.add_row(GRAY_ROW, gray)
    table.add_row("model", {"pixel_acc_5": acc5, "pixel_acc_2": torch.tensor(acc2), "l1": 0.0523})
    return table


def table_lines(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("|")]


def test_markdown_columns_rows_and_percentages():
    markdown = results().to_markdown()
    header, rule, model, gray = table_lines(markdown)
    assert header == "| model | pixel_acc_2 | pixel_acc_5 | l1 |"  # accuracies by threshold, then the rest
    assert rule == "|:---|---:|---:|---:|"
    assert model == "| model | 40.0 % | 70.0 % | 0.0523 |"
    assert gray == "| all-gray | 33.0 % | 61.0 % | 0.0712 |"  # the baseline last, though added first
    assert "500 test images at 256 px" in markdown and "splits/test.txt" in markdown


def test_markdown_selected_columns_and_missing_values():
    table = results()
    table.add_row("other", {"l1": 0.1})
    lines = table_lines(table.to_markdown(columns=["l1", "pixel_acc_2"], caption=False))
    assert lines[0] == "| model | l1 | pixel_acc_2 |"
    assert "| other | 0.1 | – |" in lines
    assert lines[-1].startswith(f"| {GRAY_ROW} |")


def test_json_round_trip(tmp_path):
    table = results(name="vanilla")
    table.metadata["skipped_metrics"] = ["fid"]
    path = tmp_path / "run" / "results.json"
    table.save_json(path)
    assert ResultsTable.load_json(path) == table
    assert os.listdir(path.parent) == ["results.json"]  # no temp file left


def test_load_json_names_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.json"):
        ResultsTable.load_json(tmp_path / "nothing.json")
    (tmp_path / "bad.json").write_text('{"rows": 3}')
    with pytest.raises(ValueError, match="bad.json"):
        ResultsTable.load_json(tmp_path / "bad.json")


def test_compare_runs_one_row_per_run_and_one_gray_row(tmp_path):
    results(acc2=0.40, acc5=0.67).save_json(tmp_path / "vanilla" / "results.json")
    results(acc2=0.50, acc5=0.80, name="advanced").save_json(tmp_path / "run2" / "results.json")
    markdown = compare_runs([tmp_path / "vanilla" / "results.json", tmp_path / "run2"])
    names = [line.split("|")[1].strip() for line in table_lines(markdown)[2:]]
    assert names == ["vanilla", "advanced", GRAY_ROW]  # folder name, else the stored name
    assert "| advanced | 50.0 % | 80.0 % | 0.0523 |" in markdown
    assert "Note" not in markdown


def test_compare_runs_keeps_gray_rows_of_different_test_sets(tmp_path):
    results().save_json(tmp_path / "a" / "results.json")
    results(num_test_images=100).save_json(tmp_path / "b" / "results.json")
    markdown = compare_runs([tmp_path / "a", tmp_path / "b"])
    names = [line.split("|")[1].strip() for line in table_lines(markdown)[2:]]
    assert names == ["a", "b", f"{GRAY_ROW} (a)", f"{GRAY_ROW} (b)"]
    assert "different test sets" in markdown


def test_compare_main_writes_output_and_names_missing_files(tmp_path, capsys):
    results().save_json(tmp_path / "a" / "results.json")
    assert main([str(tmp_path / "a"), "--output", str(tmp_path / "table.md"), "--paper"]) == 0
    text = (tmp_path / "table.md").read_text()
    assert "| a |" in text and "Vanilla CGAN" in text

    (tmp_path / "empty_run").mkdir()
    for missing, named in [(tmp_path / "b.json", "b.json"), (tmp_path / "empty_run", "empty_run/results.json")]:
        with pytest.raises(SystemExit) as exit_info:
            main([str(tmp_path / "a"), str(missing)])
        assert exit_info.value.code == 2
        assert f"no results file at '{tmp_path / named}'" in capsys.readouterr().err


def test_paper_table_is_corrected():
    for name, row in PAPER_RESULTS.rows.items():
        accuracies = [row[c] for c in PAPER_RESULTS.columns]  # ordered 2 %, 5 %
        assert accuracies[0] < accuracies[1], name
    assert PAPER_RESULTS.rows["Vanilla CGAN"][PAPER_RESULTS.columns[0]] == pytest.approx(0.40)
    markdown = paper_table_markdown()
    assert markdown.splitlines()[0] == "| model | pixel_acc@2% | pixel_acc@5% |"
    assert "| Advanced CGAN | 50.0 % | 80.0 % |" in markdown
    assert "swapped" in markdown


def test_compare_runs_names_extra_checkpoint_rows_and_reads_evaluation_metadata(tmp_path):
    # As colorize.evaluation.report writes it: the model row named after the run folder, "" for no split file.
    table = ResultsTable(metadata={"split_file": "", "num_test_images": 8, "image_size": 32})
    table.add_row("vanilla", {"pixel_acc@2%": 0.4})
    table.add_row("baseline", {"pixel_acc@2%": 0.3})
    table.add_row(GRAY_ROW, {"pixel_acc@2%": 0.2})
    table.save_json(tmp_path / "vanilla" / "results.json")
    markdown = compare_runs([tmp_path / "vanilla"])
    names = [line.split("|")[1].strip() for line in table_lines(markdown)[2:]]
    assert names == ["vanilla", "vanilla: baseline", GRAY_ROW]
    assert "8 test images at 32 px." in markdown and "split" not in markdown


def test_same_photos_in_two_run_folders_are_one_test_set(tmp_path):
    # Every run keeps its own split.json: the photo list's digest, not the file's path, says what was tested.
    results(split_file="runs/a/split.json", test_set_sha256="ab" * 32).save_json(tmp_path / "a" / "results.json")
    results(split_file="runs/b/split.json", test_set_sha256="ab" * 32).save_json(tmp_path / "b" / "results.json")
    markdown = compare_runs([tmp_path / "a", tmp_path / "b"])
    assert "Warning" not in markdown and markdown.count(GRAY_ROW) == 1


def test_compare_warns_loudly_when_the_test_photos_differ(tmp_path, capsys):
    results(test_set_sha256="ab" * 32).save_json(tmp_path / "a" / "results.json")
    results(test_set_sha256="cd" * 32).save_json(tmp_path / "b" / "results.json")
    assert main([str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    captured = capsys.readouterr()
    assert "**Warning:** these runs were tested on different test sets" in captured.out
    assert "photo list sha256 abababababab" in captured.out and "cdcdcdcdcdcd" in captured.out
    assert captured.err.startswith("colorize compare: WARNING: these runs were tested on different test sets")
