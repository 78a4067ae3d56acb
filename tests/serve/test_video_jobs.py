"""Videos on the serve page's API: uploaded, colorized with progress, downloaded; limits and bad files named."""

from __future__ import annotations

import time
from urllib.parse import quote

import av
import pytest
from starlette.testclient import TestClient
from video_clips import write_clip


@pytest.fixture
def client(serve_app):
    app, _, colorizers = serve_app()
    with TestClient(app) as client:
        yield client


def post(client, path, name):
    return client.post("/api/videos", content=path.read_bytes(), headers={"X-Filename": quote(name)})


def wait_done(client, job_id: str) -> dict:
    seen = []
    for _ in range(600):
        state = client.get(f"/api/videos/{job_id}").json()
        seen.append(state["done"])
        if state["state"] in ("done", "error"):
            return {**state, "seen": seen}
        time.sleep(0.05)
    raise AssertionError("the video was not colorized in 30 s")


def test_a_video_is_colorized_and_comes_back_with_its_frames(client, tmp_path):
    clip = tmp_path / "clip.mp4"
    write_clip(clip, frames=12, tone=True)
    answer = post(client, clip, "my clip.mp4")
    assert answer.status_code == 200, answer.text
    job = answer.json()
    assert (job["name"], job["width"], job["height"], job["frames"]) == ("my clip.mp4", 64, 48, 12)
    state = wait_done(client, job["id"])
    assert state["state"] == "done" and state["frames"] == 12 and state["done"] == 12
    result = client.get(f"/api/videos/{job['id']}/colorized.mp4?download=1")
    assert result.status_code == 200 and result.headers["content-type"] == "video/mp4"
    assert "my%20clip-colorized.mp4" in result.headers["content-disposition"]
    (tmp_path / "out.mp4").write_bytes(result.content)
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 12


def test_limits_and_bad_files_are_refused_by_name(client, tmp_path):
    long = tmp_path / "long.mp4"
    write_clip(long, frames=22, height=16, width=16, fps=1)  # 22 s
    answer = post(client, long, "long.mp4")
    assert answer.status_code == 413 and "long.mp4" in answer.json()["error"] and "20 s" in answer.json()["error"]
    large = tmp_path / "large.mp4"
    write_clip(large, frames=1, height=800, width=1280)
    answer = post(client, large, "large.mp4")
    assert answer.status_code == 413 and "megapixels" in answer.json()["error"]
    fake = tmp_path / "fake.mp4"
    fake.write_text("no film")
    answer = post(client, fake, "fake.mp4")
    assert answer.status_code == 415 and answer.json()["error"].startswith("fake.mp4: ")
    assert client.get("/api/videos/nothing").status_code == 404
    assert client.get("/api/videos/limits").json()["max_seconds"] == 20
