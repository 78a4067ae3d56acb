"""No other web site can drive the server: cross-site POSTs are refused, framing is forbidden, paths stay private."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from starlette.testclient import TestClient

from colorize.serve.app import create_app
from colorize.serve.catalog import Catalog, ModelChoice
from colorize.serve.server import allowed_hosts
from colorize.serve.uploads import PhotoStore


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 80, 20)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def client(serve_app):
    app, store, _ = serve_app(allowed_hosts=["127.0.0.1"])
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        client.store = store
        yield client


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example", "X-Filename": "cat.png"},
        {"Origin": "http://127.0.0.1:9999", "X-Filename": "cat.png"},  # another port is another origin
        {"Origin": "null", "X-Filename": "cat.png"},  # a sandboxed frame or a file:// page
        {"Sec-Fetch-Site": "cross-site", "X-Filename": "cat.png"},
        {"Content-Type": "text/plain"},  # what a no-cors fetch() from another site can send
    ],
    ids=["other site", "other port", "null origin", "sec-fetch cross-site", "simple request"],
)
def test_a_cross_origin_post_is_refused_and_nothing_is_kept(client, headers):
    answer = client.post("/api/photos", content=png(), headers=headers)
    assert answer.status_code == 403 and "error" in answer.json()
    assert list(client.store.folder.iterdir()) == []


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Filename": "cat.png"},  # curl or a script: no Origin at all
        {"X-Filename": "cat.png", "Origin": "http://127.0.0.1:8000", "Sec-Fetch-Site": "same-origin"},
    ],
    ids=["no origin", "same origin"],
)
def test_the_page_and_plain_clients_may_post(client, headers):
    assert client.post("/api/photos", content=png(), headers=headers).status_code == 200


@pytest.mark.parametrize("url", ["/", "/static/page.js", "/api/models", "/api/nothing-here"])
def test_every_answer_forbids_framing_and_sniffing(client, url):
    answer = client.get(url)
    policy = answer.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"


def test_a_server_on_every_network_keeps_the_host_check(serve_app):
    names = allowed_hosts("0.0.0.0", ["mybox.local"])
    app, _, _ = serve_app(allowed_hosts=names)
    assert TestClient(app, base_url="http://mybox.local:8000").get("/api/models").status_code == 200
    assert TestClient(app, base_url="http://127.0.0.1:8000").get("/api/models").status_code == 200
    assert TestClient(app, base_url="http://rebound.example:8000").get("/api/models").status_code == 400
    assert "rebound.example" not in allowed_hosts("0.0.0.0")


def test_the_api_shows_names_not_paths(tmp_path, fake_colorizer_class):
    checkpoint = tmp_path / "runs" / "demo" / "checkpoints" / "last.ckpt"
    colorizer = fake_colorizer_class("demo", info={"results": {"model": {}, "checkpoint": str(checkpoint)}})
    colorizer.source = checkpoint
    catalog = Catalog([ModelChoice("demo", checkpoint)], loader=lambda path, device: colorizer)
    with PhotoStore(parent=str(tmp_path)) as store, TestClient(create_app(catalog, store)) as client:
        menu, described = client.get("/api/models").text, client.get("/api/models/0").json()
    assert str(tmp_path) not in menu and str(tmp_path) not in str(described)
    assert described["source"] == "demo/last.ckpt" == described["measured_with"]


def test_the_store_is_bounded_in_bytes_keeping_the_newest(tmp_path):
    import asyncio

    async def body(data):
        yield data

    with PhotoStore(parent=str(tmp_path), max_store_bytes=2_500) as store:
        ids = []
        for seed in range(4):
            data = png() + bytes(1000 + seed)  # trailing bytes after IEND: ~1.1 kB files that still decode
            folder = asyncio.run(store.receive(f"p{seed}.png", body(data), len(data)))
            ids.append(store.admit(folder, f"p{seed}.png")[0].id)
            assert store.size_bytes() <= 2_500
        assert sorted(p.name for p in store.folder.iterdir()) == sorted(ids[-2:])
        assert Path(store.folder / ids[-1]).is_dir()
