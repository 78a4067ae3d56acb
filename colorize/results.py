"""Results tables: one run's test metrics, several runs side by side, and the paper's table.

A run's ``results.json`` holds ordered rows ``{row name: {metric: value}}`` (the model,
and the all-gray baseline that predicts ab = 0 everywhere) plus what makes numbers
comparable: the checkpoint, the number of test images, the image size and the split file.
``colorize compare`` (:func:`main`) gathers several runs into one Markdown table in the
paper's form: one row per experiment and a single all-gray row when all runs were tested
on the same images.

Pixel accuracies are stored as fractions in [0, 1] and shown as percentages; a metric is
taken for a pixel accuracy when its name contains "acc", and its threshold is the last
number in its name (so accuracy columns are ordered 2 %, 5 %, ...); ``raw_acc_auc``, also a
fraction, is shown as a percentage too.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from colorize.atomic import atomic_open

__all__ = [
    "GRAY_ROW",
    "PAPER_RESULTS",
    "ResultsTable",
    "compare_runs",
    "main",
    "paper_table_markdown",
    "resolve_results_path",
    "test_set_mismatch",
    "TEST_SET_KEYS",
]

log = logging.getLogger(__name__)

GRAY_ROW = "all-gray"
RESULTS_FILE = "results.json"
FORMAT = "colorize.results/1"
#: What identifies a test set: the SHA-256 of its photo list (older results: the split file), its size, the image size.
TEST_SET_KEYS = ("test_set_sha256", "num_test_images", "image_size")
# Two gray baselines on the same images differ only by float summation order.
_GRAY_ATOL = 1e-6


def _is_accuracy(metric: str) -> bool:
    return "acc" in metric.lower()


def _threshold(metric: str) -> float:
    numbers = re.findall(r"\d+(?:\.\d+)?", metric)
    return float(numbers[-1]) if numbers else math.inf


def _order_columns(names: Iterable[str]) -> list[str]:
    """Pixel accuracies first by threshold, then the other metrics in first-seen order."""
    unique = list(dict.fromkeys(names))
    accuracies = sorted((n for n in unique if _is_accuracy(n)), key=_threshold)
    return accuracies + [n for n in unique if not _is_accuracy(n)]


def _format(metric: str, value: float | None) -> str:
    if value is None:
        return "–"
    if _is_accuracy(metric):
        return f"{100.0 * value:.1f} %"
    # Four significant digits suit L1 (0.08123), colorfulness (12.35) and FID (35.21) alike.
    return f"{value:.4g}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path) as f:
        f.write(text)


@dataclass
class ResultsTable:
    """Ordered rows ``{row name: {metric name: value}}`` plus the test set they were measured on.

    Attributes:
        rows: insertion-ordered; the :data:`GRAY_ROW` row, if any, is always shown last.
        metadata: free-form, stored as is. Keys read here: ``name`` (the experiment's name in
            a comparison; default: the run folder's name), ``checkpoint``, ``num_test_images``,
            ``image_size`` (pixels) and ``split_file``; the last three identify the test set.
    """

    rows: dict[str, dict[str, float]] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def add_row(self, name: str, metrics: Mapping[str, Any]) -> None:
        """Add (or replace) a row; values may be floats or 0-d tensors."""
        self.rows[name] = {metric: float(value) for metric, value in metrics.items()}

    @property
    def columns(self) -> list[str]:
        """Every metric of any row, pixel accuracies first (by threshold)."""
        return _order_columns(metric for metrics in self.rows.values() for metric in metrics)

    @property
    def test_set(self) -> tuple[Any, Any, Any]:
        """(photo list digest, number of test images, image size): what must match for two runs'
        numbers, and their all-gray baselines, to be comparable. Unknown entries are ``None``.

        The digest is ``test_set_sha256``; results written before it existed fall back to
        their split file. The split file alone does not identify a test set: every run keeps
        its own copy (``runs/<name>/split.json``) of what may be the same split.
        """
        identity = self.metadata.get("test_set_sha256") or self.metadata.get("split_file") or None
        return (identity, *(self.metadata.get(key) or None for key in TEST_SET_KEYS[1:]))

    def to_markdown(self, columns: Sequence[str] | None = None, *, caption: bool = True) -> str:
        """A Markdown table: one row per entry, metrics as columns, the gray baseline last.

        Args:
            columns: which metrics to show, in this order; default :attr:`columns`.
            caption: add a line naming the test set and checkpoint, when known.
        """
        columns = list(columns) if columns is not None else self.columns
        order = [name for name in self.rows if name != GRAY_ROW]
        order += [GRAY_ROW] if GRAY_ROW in self.rows else []
        lines = [
            "| " + " | ".join(["model", *map(_cell, columns)]) + " |",
            "|" + "|".join([":---", *["---:"] * len(columns)]) + "|",
        ]
        for name in order:
            cells = [_format(metric, self.rows[name].get(metric)) for metric in columns]
            lines.append("| " + " | ".join([_cell(name), *cells]) + " |")
        text = "\n".join(lines)
        described = self._caption()
        return f"{text}\n\n{described}" if caption and described else text

    def _caption(self) -> str:
        _, count, size = self.test_set
        split = self.metadata.get("split_file") or None
        checkpoint = self.metadata.get("checkpoint")
        parts = []
        if count is not None or size is not None:
            images = f"{count} test images" if count is not None else "test images"
            parts.append(f"{images} at {size} px" if size is not None else images)
        if split is not None:
            parts.append(f"split `{split}`")
        if checkpoint:
            where = [f"{k} {self.metadata[k]}" for k in ("epoch", "step") if self.metadata.get(k) is not None]
            parts.append(f"checkpoint `{checkpoint}`" + (f" ({', '.join(where)})" if where else ""))
        return "; ".join(parts) + "." if parts else ""

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "metadata": self.metadata, "rows": self.rows}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResultsTable:
        rows, metadata = data.get("rows"), data.get("metadata") or {}
        if not isinstance(rows, Mapping) or not all(isinstance(m, Mapping) for m in rows.values()):
            raise ValueError("results must hold 'rows': {row name: {metric: value}}")
        if not isinstance(metadata, Mapping):
            raise ValueError("results 'metadata' must be a mapping")
        table = cls(metadata=dict(metadata))
        for name, metrics in rows.items():
            table.add_row(name, metrics)
        return table

    def save_json(self, path: str | os.PathLike) -> None:
        """Write the table as JSON, atomically (a crash never leaves half a results file)."""
        _write_text_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load_json(cls, path: str | os.PathLike) -> ResultsTable:
        """Read a table written by :meth:`save_json`.

        Raises:
            FileNotFoundError: naming ``path`` if it does not exist.
            ValueError: naming ``path`` if it is not a results file.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no results file at {str(path)!r}")
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, ValueError, TypeError, AttributeError) as err:
            raise ValueError(f"{str(path)!r} is not a results file: {err}") from err


def resolve_results_path(run: str | os.PathLike) -> Path:
    """A run folder means its ``results.json``; a file is taken as is."""
    path = Path(run)
    return path / RESULTS_FILE if path.is_dir() else path


def _gray_rows_agree(tables: Sequence[ResultsTable]) -> bool:
    first = tables[0].rows[GRAY_ROW]
    for table in tables[1:]:
        other = table.rows[GRAY_ROW]
        if other.keys() != first.keys():
            return False
        if not all(math.isclose(other[m], first[m], rel_tol=0.0, abs_tol=_GRAY_ATOL) for m in first):
            return False
    return True


def compare_runs(result_paths: Sequence[str | os.PathLike]) -> str:
    """One Markdown table in the paper's form from several runs' ``results.json``.

    Each run contributes its model row(s), named after the run (its stored ``name``, else
    its folder; ``run: row`` when it holds several). The all-gray baselines collapse into a
    single row when every run was tested on the same test set (same split file, number of
    images and size) and their values agree; otherwise each run keeps its own gray row and
    a note under the table says why.

    Args:
        result_paths: ``results.json`` files or the run folders holding them.

    Raises:
        FileNotFoundError: naming the first missing results file.
        ValueError: if no path is given or a file is not a results file.
    """
    if not result_paths:
        raise ValueError("compare_runs needs at least one results file")
    paths = [resolve_results_path(p) for p in result_paths]
    tables = [ResultsTable.load_json(p) for p in paths]
    names = [t.metadata.get("name") or p.resolve().parent.name for t, p in zip(tables, paths, strict=True)]
    if len(set(names)) < len(names):
        # Same folder name in different places (e.g. version_0): the folder path tells them apart.
        names = [t.metadata.get("name") or str(p.parent) for t, p in zip(tables, paths, strict=True)]

    combined = ResultsTable()
    for name, table in zip(names, tables, strict=True):
        models = [row for row in table.rows if row != GRAY_ROW]
        for row in models:
            # The evaluation names the model row after the run folder; extra rows are other checkpoints.
            combined.add_row(name if len(models) == 1 or row == name else f"{name}: {row}", table.rows[row])

    with_gray = [(name, t) for name, t in zip(names, tables, strict=True) if GRAY_ROW in t.rows]
    notes = []
    mismatch = test_set_mismatch(names, tables)
    if mismatch:
        notes.append(f"**Warning:** {mismatch}")
    if with_gray:
        gray_tables = [t for _, t in with_gray]
        same_test_set = len({t.test_set for t in gray_tables}) == 1
        if same_test_set and _gray_rows_agree(gray_tables):
            combined.add_row(GRAY_ROW, gray_tables[0].rows[GRAY_ROW])
        else:
            for name, table in with_gray:
                combined.add_row(f"{GRAY_ROW} ({name})", table.rows[GRAY_ROW])
            why = "were tested on different test sets" if not same_test_set else "have different all-gray baselines"
            notes.append(
                f"Note: these runs {why}, so each keeps its own all-gray row; compare a model only with the "
                "gray row of its own run."
            )
    if not mismatch:
        first = tables[0].metadata
        combined.metadata = {k: first[k] for k in ("num_test_images", "image_size") if first.get(k) is not None}
    text = combined.to_markdown()
    return "\n\n".join([text, *notes])


def test_set_mismatch(names: Sequence[str], tables: Sequence[ResultsTable]) -> str | None:
    """One sentence naming each run's test set when they are not all the same; None when they are."""
    if len({t.test_set for t in tables}) <= 1:
        return None
    return (
        "these runs were tested on different test sets, so their numbers are not comparable: "
        + "; ".join(f"{name}: {_describe_test_set(t)}" for name, t in zip(names, tables, strict=True))
        + "."
    )


def _describe_test_set(table: ResultsTable) -> str:
    identity, count, size = table.test_set
    digest = table.metadata.get("test_set_sha256")
    split = table.metadata.get("split_file") or "?"
    photos = f"photo list sha256 {digest[:12]}" if digest else f"split {identity or '?'}"
    where = f", split {split}" if digest else ""
    return f"{photos}{where}, {count if count is not None else '?'} images, {size or '?'} px"


# The names colorize.evaluation.metrics.threshold_key gives (not imported: `colorize compare` stays light).
_ACC_2 = "pixel_acc@2%"
_ACC_5 = "pixel_acc@5%"

# The paper's Section VI table with its two columns put back in order: it prints 67/69/74/80 %
# under 2 % and 40/42/44/50 % under 5 %, yet a wider tolerance admits every pixel a narrower one
# does, and the authors' notebook gives 0.398 at t = 2 % for the vanilla model.
PAPER_RESULTS = ResultsTable(
    metadata={"name": "paper"},
    rows={
        "Vanilla CGAN": {_ACC_2: 0.40, _ACC_5: 0.67},
        "Vanilla CGAN with data augmentation": {_ACC_2: 0.42, _ACC_5: 0.69},
        "Vanilla CGAN with perceptual loss": {_ACC_2: 0.44, _ACC_5: 0.74},
        "Advanced CGAN": {_ACC_2: 0.50, _ACC_5: 0.80},
    },
)

PAPER_NOTE = (
    "Note: the paper prints these columns swapped (67-80 % under 2 %); a wider tolerance cannot admit fewer "
    "pixels and the authors' notebook gives 0.398 at t = 2 % for the vanilla model, so they are shown corrected."
)


def paper_table_markdown() -> str:
    """The paper's pixel accuracies (Section VI), columns corrected, with a note saying so."""
    return f"{PAPER_RESULTS.to_markdown(caption=False)}\n\n{PAPER_NOTE}"


def main(argv: Sequence[str] | None = None) -> int:
    """``colorize compare RUN_DIR_OR_RESULTS_JSON... [--output FILE] [--paper]``."""
    parser = argparse.ArgumentParser(
        prog="colorize compare",
        description="Gather several runs' results.json into one Markdown table in the paper's form.",
    )
    parser.add_argument(
        "runs", nargs="+", metavar="RUN_DIR_OR_RESULTS_JSON", help=f"a run folder (its {RESULTS_FILE}) or the file"
    )
    parser.add_argument("--output", "-o", metavar="FILE", help="write the table here instead of to stdout")
    parser.add_argument("--paper", action="store_true", help="append the paper's table (columns corrected)")
    args = parser.parse_args(argv)
    try:
        text = compare_runs(args.runs)
    except (FileNotFoundError, ValueError) as err:
        parser.error(str(err))
    if "**Warning:** " in text:
        # Said where a reader of the terminal sees it, not only inside the table.
        warning = text.split("**Warning:** ", 1)[1].split("\n", 1)[0]
        sys.stderr.write(f"colorize compare: WARNING: {warning}\n")
    if args.paper:
        text = f"{text}\n\n{paper_table_markdown()}"
    if args.output:
        _write_text_atomic(args.output, text + "\n")
        log.info("wrote the comparison of %d run(s) to %s", len(args.runs), args.output)
    else:
        sys.stdout.write(text + "\n")
    return 0
