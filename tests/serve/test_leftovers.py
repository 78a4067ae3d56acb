"""The upload folder of a server killed with ``kill -9`` is removed by the next start; nothing else is."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from PIL import Image

from colorize.serve.leftovers import PREFIX, remove_dead_servers
from colorize.serve.uploads import PhotoStore

EXPORT = Path(__file__).resolve().parent.parent / "fixtures" / "before_regroup" / "tiny_before_regroup.safetensors"


def start_server(temp: Path) -> tuple[subprocess.Popen, int]:
    """``colorize serve`` in a process of its own, its temp folder under ``temp``; returns it and its port."""
    env = {**os.environ, "TMPDIR": str(temp), "PYTHONUNBUFFERED": "1"}
    code = "import sys; from colorize.cli import main; main(sys.argv[1:])"
    args = [sys.executable, "-c", code, "serve", "--ckpt_path", str(EXPORT), "--port", "0"]
    server = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    for line in server.stdout:
        found = re.search(r"running on http://127\.0\.0\.1:(\d+)", line)
        if found:
            return server, int(found.group(1))
        if time.monotonic() > deadline:
            break
    server.kill()
    raise RuntimeError(f"colorize serve did not start: {server.stdout.read()}")


def test_a_killed_servers_photos_are_removed_by_the_next_start(tmp_path):
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 80, 20)).save(buffer, "PNG")
    server, port = start_server(tmp_path)
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/photos", data=buffer.getvalue(), headers={"X-Filename": "cat.png"}
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            assert answer.status == 200
        (left,) = [p for p in tmp_path.iterdir() if p.name.startswith(PREFIX)]
        assert any(left.iterdir())  # the uploaded photo
    finally:
        os.kill(server.pid, signal.SIGKILL)
        server.wait(timeout=60)
    assert left.is_dir()  # a kill -9 leaves it behind...

    other_tool = tmp_path / "colorize-serve-notes"  # not of this form: someone else's
    other_tool.mkdir()
    alive = tmp_path / f"{PREFIX}{os.getpid()}-x-keepme"  # a live server's (this process)
    alive.mkdir()
    with PhotoStore(parent=str(tmp_path)) as store:  # ...and the next start removes it
        assert not left.exists()
        assert other_tool.is_dir() and alive.is_dir() and store.folder.is_dir()
    assert remove_dead_servers(tmp_path) == []
