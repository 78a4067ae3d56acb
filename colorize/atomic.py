"""Write a file so that readers see the old version or the new one, never half of one.

A crash, a kill or a full disk in the middle of a write must not leave a truncated split
manifest, table or picture that a later step takes for a result.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """Open a hidden temporary file beside ``path``; on success rename it over ``path``.

    The temporary file lives in the same folder (``os.replace`` is atomic only within one
    file system) and is created with ``open(..., "x")`` rather than ``mkstemp``, so it gets
    the usual umask permissions instead of 0600. On any failure it is removed and an
    existing ``path`` is left untouched. Parent folders are created.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, mode.replace("w", "x"), **({} if "b" in mode else {"encoding": "utf-8"})) as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
