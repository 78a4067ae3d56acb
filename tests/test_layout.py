"""The package's layout holds: imports between its folders point one way, and the top stays small.

docs/layout.md states the order: cli -> serve -> training -> evaluation -> inference ->
models, data -> the base (color, atomic, provenance, results). Every import counts, the lazy
ones inside functions too: they are how a cycle hides.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "colorize"
BASE = ("color", "atomic", "provenance", "results")
#: Each part and the parts it may import besides itself.
MAY_IMPORT = {
    "base": {"base"},
    "data": {"base"},
    "models": {"base"},
    "inference": {"models", "data", "base"},
    "evaluation": {"inference", "models", "data", "base"},
    "training": {"evaluation", "inference", "models", "data", "base"},
    "serve": {"training", "evaluation", "inference", "models", "data", "base"},
    "cli": {"serve", "training", "evaluation", "inference", "models", "data", "base"},
}


def part_of(module: str) -> str | None:
    """``colorize.inference.export`` -> ``inference``; ``colorize.color`` -> ``base``; the package itself -> None."""
    parts = module.split(".")
    if parts[0] != "colorize" or len(parts) == 1:
        return None
    name = parts[1]
    if name in BASE:
        return "base"
    return name if name in MAY_IMPORT else None


def colorize_imports(path: Path) -> list[tuple[int, str]]:
    """Every ``colorize.*`` module ``path`` imports, at any depth of the file, with its line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "colorize":  # from colorize import x: x may be a module
                found += [(node.lineno, f"colorize.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
    return [(line, name) for line, name in found if name.startswith("colorize")]


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_one_way(path):
    importer = part_of(module_name(path))
    assert importer is not None, f"{path}: not in any part of the layout; add it to tests/test_layout.py"
    upward = [
        f"line {line}: {name}"
        for line, name in colorize_imports(path)
        if part_of(name) not in (None, importer, *MAY_IMPORT[importer])
    ]
    assert not upward, f"{module_name(path)} ({importer}) imports against the layout: {upward}"


def test_at_most_four_modules_lie_at_the_top():
    top = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "cli"))
    assert top == sorted(BASE)


def test_the_checker_sees_an_upward_import(tmp_path):
    """Guards the test above: a lazy import of training inside inference is caught."""
    sample = tmp_path / "x.py"
    sample.write_text("def f():\n    from colorize.training.module import ColorizationGAN\n")
    assert [part_of(name) for _, name in colorize_imports(sample)] == ["training"]
    assert "training" not in MAY_IMPORT["inference"]
