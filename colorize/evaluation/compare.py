"""``colorize compare``: several runs' test results in one table, in the paper's form, and the paper's own.

:func:`compare_runs` gathers several runs' ``results.json`` into one Markdown table: one row
per experiment and a single all-gray row when all runs were tested on the same images (else
each keeps its own and a note says why). :data:`PAPER_RESULTS` is the paper's Section VI table.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from collections.abc import Sequence

from colorize.results import (
    GRAY_ROW,
    RESULTS_FILE,
    TEST_SET_KEYS,
    ResultsTable,
    _write_text_atomic,
    resolve_results_path,
)

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

_GRAY_ATOL = 1e-6


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
