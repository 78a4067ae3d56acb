"""Upload folders of servers that died: found by name, removed by the next server that starts.

Why: the page promises that uploaded photos are removed when the server stops, but a
``kill -9`` or the kernel's OOM killer (plausible on a 40 megapixel photo) gives the server no
chance to clean up, and people's photos would stay in ``/tmp``. So each server names its
folder after itself, ``colorize-serve-<pid>-<start>-<random>`` (``start``: when the process
started, from ``/proc``, so a reused pid is not mistaken for the owner), and every server
that starts removes the folders of this form that belong to this user and whose owner is gone.
Nothing else is touched: not other tools' folders, not other users', not live servers'.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

__all__ = ["PREFIX", "folder_prefix", "owner_alive", "remove_dead_servers"]

log = logging.getLogger(__name__)

PREFIX = "colorize-serve-"
_NAME = re.compile(rf"^{re.escape(PREFIX)}(\d+)-(\d+|x)-[A-Za-z0-9_]+$")


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (``/proc/<pid>/stat`` field 22), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: count from the last ")".
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def folder_prefix() -> str:
    """The ``tempfile`` prefix of this process's upload folder."""
    return f"{PREFIX}{os.getpid()}-{_start_time(os.getpid()) or 'x'}-"


def owner_alive(pid: int, start: str) -> bool:
    """Whether process ``pid``, started at ``start`` (``x``: unknown), still runs."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # a process of someone else's has that pid: not ours to judge
    now = _start_time(pid)
    return start == "x" or now is None or now == start


def remove_dead_servers(parent: str | os.PathLike) -> list[Path]:
    """Remove this user's ``colorize-serve-*`` folders under ``parent`` whose server is gone; returns them."""
    removed = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    for entry in entries:
        match = _NAME.match(entry.name)
        if match is None or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            if entry.stat(follow_symlinks=False).st_uid != os.getuid():
                continue
        except OSError:
            continue
        if owner_alive(int(match.group(1)), match.group(2)):
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        log.info("removed %s, left behind by a server that was stopped without cleaning up", entry.path)
        removed.append(Path(entry.path))
    return removed
