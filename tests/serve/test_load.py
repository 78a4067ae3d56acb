"""100 concurrent uploads and colorize requests against a real uvicorn server on 127.0.0.1, with a tiny model.

Bounded in count (100 requests in the burst) and time (every request has a timeout; the test
stops by itself). The figures it measures are printed (``-s``) and quoted in docs/serve.md.
"""

from __future__ import annotations

import http.client
import io
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from colorize.serve.app import create_app
from colorize.serve.catalog import Catalog, ModelChoice
from colorize.serve.uploads import PhotoStore

BURST = 100
TIMEOUT_S = 60
MAX_WAITING = 4


def png(width: int, height: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // width, y * 255 // height, rng.integers(0, 255, (height, width))], axis=-1)
    buffer = io.BytesIO()
    Image.fromarray(rgb.astype(np.uint8), "RGB").save(buffer, "PNG")
    return buffer.getvalue()


class Gate(nn.Module):
    """Wraps the tiny network; while ``closed`` is set, every forward waits for it to open."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network
        self.open = threading.Event()
        self.open.set()
        self.stride = getattr(network, "stride", 1)

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        self.open.wait(timeout=TIMEOUT_S)
        return self.network(L)


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def call(port: int, method: str, url: str, body: bytes | None = None, headers: dict | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
    try:
        start = time.monotonic()
        connection.request(method, url, body=body, headers=headers or {})
        answer = connection.getresponse()
        answer.read()
        return answer.status, time.monotonic() - start
    finally:
        connection.close()


def upload(port: int, data: bytes, name: str) -> tuple[int, float]:
    return call(port, "POST", "/api/photos", data, {"X-Filename": name, "Content-Type": "application/octet-stream"})


def test_a_burst_is_bounded_answered_and_leaves_nothing(serve_in_thread, fake_colorizer_class, tmp_path):
    colorizer = fake_colorizer_class("tiny")
    gate = Gate(colorizer.generator)
    colorizer.generator = gate
    catalog = Catalog([ModelChoice("tiny", Path("tiny"))], loader=lambda path, device: colorizer)
    store = PhotoStore(parent=str(tmp_path))
    app = create_app(catalog, store, allowed_hosts=["127.0.0.1"], max_waiting=MAX_WAITING, max_uploads=4)
    jobs = app.state.jobs
    photo = png(480, 360, 0)
    figures: dict[str, float] = {}
    with serve_in_thread(app) as port:
        import json

        first = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
        first.request("POST", "/api/photos", body=photo, headers={"X-Filename": "first.png"})
        photo_id = json.loads(first.getresponse().read())["id"]
        first.close()
        assert call(port, "GET", f"/api/photos/{photo_id}/colorized.png?strength=1")[0] == 200

        # ---- abandoned requests are not computed
        gate.open.clear()
        blocker = threading.Thread(
            target=call, args=(port, "GET", f"/api/photos/{photo_id}/colorized.png?strength=0.5")
        )
        blocker.start()
        deadline = time.monotonic() + TIMEOUT_S
        while jobs.computed < 3 and time.monotonic() < deadline:  # upload, first picture, the blocker
            time.sleep(0.01)
        computed_before = jobs.computed
        for i in range(3):  # sent, then the tab is closed: the socket goes away
            sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
            sock.sendall(f"GET /api/photos/{photo_id}/colorized.png?strength=0.{i + 6} HTTP/1.1\r\n".encode())
            sock.sendall(b"Host: 127.0.0.1\r\n\r\n")
            while jobs.pending < 2 + i and time.monotonic() < deadline:
                time.sleep(0.01)
            sock.close()
        while jobs.dropped < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        gate.open.set()
        blocker.join(TIMEOUT_S)
        assert jobs.dropped == 3
        assert jobs.computed == computed_before  # none of the three ran

        # ---- the burst: 100 requests at once, while the page and a picture are asked for
        baseline, peak = rss_bytes(), [rss_bytes()]
        page_times: list[float] = []
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                for url in ("/", "/static/page.js", f"/api/photos/{photo_id}/gray.png"):
                    status, seconds = call(port, "GET", url)
                    assert status == 200
                    page_times.append(seconds)
                peak.append(rss_bytes())
                time.sleep(0.05)

        watcher = threading.Thread(target=watch)
        gate.open.clear()  # the first job holds the worker until every request of the burst has been sent
        watcher.start()
        requests = []
        for i in range(BURST):
            if i % 2:
                requests.append(("GET", f"/api/photos/{photo_id}/colorized.png?strength={(i % 40) / 20:.2f}&full=1"))
            else:
                requests.append(("POST", f"burst-{i}.png"))
        with ThreadPoolExecutor(BURST) as pool:
            futures = [
                pool.submit(upload, port, png(240, 180, i), target)
                if method == "POST"
                else pool.submit(call, port, method, target)
                for i, (method, target) in enumerate(requests)
            ]
            deadline = time.monotonic() + TIMEOUT_S
            while jobs.refused + app.state.receiving.refused < BURST - MAX_WAITING - 5 and time.monotonic() < deadline:
                time.sleep(0.02)
            gate.open.set()
            answers = [f.result(timeout=TIMEOUT_S) for f in futures]
        stop.set()
        watcher.join(TIMEOUT_S)
        statuses = [status for status, _ in answers]
        figures = {
            "sent": len(answers),
            "answered 200": statuses.count(200),
            "refused 503": statuses.count(503),
            "slowest page/picture answer (s)": max(page_times),
            "slowest burst answer (s)": max(seconds for _, seconds in answers),
            "peak memory growth (MB)": (max(peak) - baseline) / 1e6,
            "peak memory of the test process (MB)": max(peak) / 1e6,
            "jobs computed": jobs.computed,
        }
        print("\nload test:", figures)
        assert set(statuses) <= {200, 503} and len(answers) == BURST  # every request answered, no error
        assert statuses.count(503) >= BURST - MAX_WAITING - 5  # the excess is refused...
        assert 1 <= statuses.count(200) <= MAX_WAITING + 5  # ...and the queue was short
        assert max(page_times) < 5.0  # the page and pictures kept answering
        assert max(peak) - baseline < 500e6
        assert store.size_bytes() <= store.max_store_bytes
    # ---- after shutdown nothing is left
    assert not store.folder.exists()
    assert list(tmp_path.iterdir()) == []
