"""Which models the page offers: checkpoints named on the command line, or the runs found under ``runs/``.

Models are loaded when first used (a run folder can hold many experiments, each a few hundred
MB once loaded) and only the most recently used ``keep_loaded`` stay in memory. Each comes
with its test-table row beside the all-gray row of the same test, so a visitor sees how much
the model beats "no colour at all" before judging its pictures.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Catalog", "ModelChoice", "accuracy_table", "find_runs", "run_checkpoint"]

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
# Without a results.json naming one: the final generator (what the paper evaluated), else the best.
FALLBACK_CHECKPOINTS = ("last.ckpt", "best.ckpt")
GRAY_ROW = "all-gray"


@dataclass(frozen=True)
class ModelChoice:
    """One entry of the model menu: a label to show and what ``load_colorizer`` (colorize.inference.colorizer) opens."""

    label: str
    path: Path


def _tested_checkpoint_name(run: Path) -> str | None:
    """The file name of the checkpoint the run's ``results.json`` was measured with, if it says."""
    try:
        checkpoint = json.loads((run / "results.json").read_text(encoding="utf-8"))["metadata"]["checkpoint"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return Path(checkpoint).name if isinstance(checkpoint, str) and checkpoint else None


def run_checkpoint(run: str | os.PathLike) -> Path | None:
    """The checkpoint a run folder stands for, so that the page's test row belongs to the weights it serves.

    The one its ``results.json`` was measured with when that file is in ``checkpoints/``;
    else ``last.ckpt``; else ``best.ckpt``; ``None`` when it has none of them.
    """
    folder = Path(run) / CHECKPOINTS
    for name in (_tested_checkpoint_name(Path(run)), *FALLBACK_CHECKPOINTS):
        if name and (folder / name).is_file():
            return folder / name
    return None


def find_runs(root: str | os.PathLike) -> list[ModelChoice]:
    """Every run folder under ``root`` (at any depth) with a checkpoint (:func:`run_checkpoint`), newest first.

    The label is the run folder's path relative to ``root`` (``demo``, ``sample/advanced``).
    Hidden folders are skipped. A missing ``root`` finds nothing.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        return []
    found = []
    for dirpath, dirnames, _ in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in ("wandb", CHECKPOINTS))
        checkpoint = run_checkpoint(dirpath)
        if checkpoint is not None:
            label = Path(dirpath).relative_to(root).as_posix()
            found.append((checkpoint.stat().st_mtime, ModelChoice(label if label != "." else root.name, checkpoint)))
    found.sort(key=lambda pair: (-pair[0], pair[1].label))
    return [choice for _, choice in found]


def _threshold(metric: str) -> float:
    numbers = re.findall(r"\d+(?:\.\d+)?", metric)
    return float(numbers[-1]) if numbers else math.inf


def accuracy_table(info: Mapping[str, Any] | None) -> dict[str, Any]:
    """The pixel accuracies of the model's test row beside the all-gray row, for the page.

    Args:
        info: :attr:`colorize.inference.colorizer.Colorizer.info`; its ``results`` (present when the run
            had a ``results.json``) holds ``{"model": row, "all-gray": row, "checkpoint": path}``.

    Returns:
        ``{"accuracy": [{"metric", "model", "gray"}...], "measured_with"}``: accuracies are
        fractions in [0, 1] ordered by threshold (``pixel_acc@2%`` before ``@5%``), a value
        missing from a row is ``None``, no results give an empty list; ``measured_with`` is
        the checkpoint the row was measured with, when known.
    """
    results = (info or {}).get("results")
    results = results if isinstance(results, Mapping) else {}
    model = results.get("model") if isinstance(results.get("model"), Mapping) else {}
    gray = results.get(GRAY_ROW) if isinstance(results.get(GRAY_ROW), Mapping) else {}
    names = sorted({m for m in (*model, *gray) if m.startswith("pixel_acc")}, key=_threshold)
    return {
        "accuracy": [{"metric": m, "model": model.get(m), "gray": gray.get(m)} for m in names],
        "measured_with": results.get("checkpoint"),
    }


def _default_loader(path: Path, device: str):
    from colorize.inference.colorizer import load_colorizer

    return load_colorizer(path, device=device)


class Catalog:
    """The model menu, and the loaded models behind it.

    Args:
        choices: the menu, first entry the default; labels must be unique.
        device: where models run (``"cpu"``, ``"cuda"``, ...).
        keep_loaded: how many loaded models stay in memory.
        loader: ``(path, device) -> Colorizer``; default :func:`colorize.inference.colorizer.load_colorizer`.
    """

    def __init__(
        self,
        choices: Sequence[ModelChoice],
        device: str = "cpu",
        keep_loaded: int = 2,
        loader: Callable[[Path, str], Any] | None = None,
    ) -> None:
        if not choices:
            raise ValueError("a catalog needs at least one model")
        labels = [c.label for c in choices]
        if len(set(labels)) != len(labels):
            raise ValueError(f"model labels must be unique, got {labels}")
        self.choices = list(choices)
        self.default = 0
        self.device = device
        self.keep_loaded = max(1, keep_loaded)
        self._loader = loader or _default_loader
        self._loaded: OrderedDict[int, Any] = OrderedDict()
        self._lock = threading.Lock()

    def index(self, value: str | int | None) -> int:
        """A menu position from a query parameter; ``None`` or ``""`` is :attr:`default`.

        Raises:
            KeyError: naming the value when it is no entry of the menu.
        """
        if value is None or value == "":
            return self.default
        try:
            index = int(value)
        except (TypeError, ValueError):
            index = -1
        if not 0 <= index < len(self.choices):
            raise KeyError(f"no model {value!r}; choose 0 to {len(self.choices) - 1}")
        return index

    def get(self, index: int):
        """The loaded colorizer of entry ``index``, loading it (and unloading the least recently used) if needed."""
        with self._lock:
            if index in self._loaded:
                self._loaded.move_to_end(index)
                return self._loaded[index]
            choice = self.choices[index]
            log.info("loading model %s from %s", choice.label, choice.path)
            colorizer = self._loader(choice.path, self.device)
            self._loaded[index] = colorizer
            while len(self._loaded) > self.keep_loaded:
                self._loaded.popitem(last=False)
            return colorizer

    def menu(self) -> list[dict[str, Any]]:
        # Labels only: the page (and whoever reaches it) need not learn this machine's folders.
        return [{"index": i, "label": c.label} for i, c in enumerate(self.choices)]

    def describe(self, index: int) -> dict[str, Any]:
        """What the page says about a model: its name, where it came from, its test row beside all-gray,
        and whether it takes colour hints (:mod:`colorize.serve.hints`)."""
        colorizer = self.get(index)
        choice = self.choices[index]
        table = accuracy_table(getattr(colorizer, "info", None))
        if table["measured_with"]:
            table["measured_with"] = shown_file(table["measured_with"])
        return {
            "index": index,
            "label": choice.label,
            "name": str(getattr(colorizer, "name", choice.label)),
            "source": shown_file(getattr(colorizer, "source", choice.path)),
            "image_size": int(colorizer.image_size),
            "takes_hints": bool(getattr(colorizer, "takes_hints", False)),
            **table,
        }


def shown_file(path: str | os.PathLike) -> str:
    """A checkpoint's name as the page shows it, never a path of this machine.

    ``runs/demo/checkpoints/last.ckpt`` -> ``demo/last.ckpt`` (its run and file); any other file:
    its name.
    """
    path = Path(path)
    if path.parent.name == "checkpoints" and path.parent.parent.name:
        return f"{path.parent.parent.name}/{path.name}"
    return path.name or str(path)


def unique_choices(choices: Iterable[ModelChoice]) -> list[ModelChoice]:
    """Drop entries that open the same file as an earlier one; make repeated labels unique by their file."""
    seen: set[Path] = set()
    kept = []
    for choice in choices:
        key = choice.path.resolve()
        if key not in seen:
            seen.add(key)
            kept.append(choice)
    labels = [c.label for c in kept]
    out, taken = [], set()
    for choice in kept:
        label = choice.label
        if labels.count(label) > 1:
            label = _shortest_distinct_tail(choice.path, [c.path for c in kept if c.label == choice.label])
        unique, count = label, 1
        while unique in taken:
            count += 1
            unique = f"{label} #{count}"
        taken.add(unique)
        out.append(ModelChoice(unique, choice.path))
    return out


def _shortest_distinct_tail(path: Path, group: list[Path]) -> str:
    """The last few parts of ``path`` that no other path of ``group`` ends with (``x/best.ckpt``), never a root."""
    for k in range(2, len(path.parts)):
        tail = path.parts[-k:]
        if sum(1 for other in group if other.parts[-k:] == tail) == 1:
            return "/".join(tail)
    return path.name
