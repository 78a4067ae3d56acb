"""What produced a result: package versions and the git commit of the code.

So that a number in ``results.json`` can be traced to the code and libraries that made it,
and rerun with them (``requirements.lock`` pins the rest).
"""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from pathlib import Path

__all__ = ["git_commit", "package_versions"]

PACKAGES = ("colorize", "torch", "torchvision", "lightning", "torchmetrics", "timm", "kornia", "numpy")


def package_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """``{package: installed version or None}``, plus ``python``."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in packages:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit(folder: str | Path | None = None) -> str | None:
    """The commit checked out where this package lives, ``+dirty`` with uncommitted changes; None outside git."""
    folder = Path(folder) if folder is not None else Path(__file__).resolve().parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, timeout=10, check=True)
        return done.stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}+dirty" if dirty else commit
