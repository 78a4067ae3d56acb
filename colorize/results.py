"""The results table: one run's test metrics, as ``results.json`` and Markdown.

A run's ``results.json`` holds ordered rows ``{row name: {metric: value}}`` (the model,
and the all-gray baseline that predicts ab = 0 everywhere) plus what makes numbers
comparable: the checkpoint, the number of test images, the image size and the split file.
It is the base, not evaluation, because every layer reads it: evaluation writes it, an export
carries its rows, the web page shows them. :mod:`colorize.evaluation.compare` puts several
runs side by side.

Pixel accuracies are stored as fractions in [0, 1] and shown as percentages; a metric is
taken for a pixel accuracy when its name contains "acc", and its threshold is the last
number in its name (so accuracy columns are ordered 2 %, 5 %, ...); ``raw_acc_auc``, also a
fraction, is shown as a percentage too.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from colorize.atomic import atomic_open

__all__ = ["FORMAT", "GRAY_ROW", "RESULTS_FILE", "ResultsTable", "TEST_SET_KEYS", "resolve_results_path"]

log = logging.getLogger(__name__)

GRAY_ROW = "all-gray"
RESULTS_FILE = "results.json"
FORMAT = "colorize.results/1"
#: What identifies a test set: the SHA-256 of its photo list (older results: the split file), its size, the image size.
TEST_SET_KEYS = ("test_set_sha256", "num_test_images", "image_size")
# Two gray baselines on the same images differ only by float summation order.


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
