"""Short videos on the ``colorize serve`` page: dropped, colorized with progress, played and downloaded.

Why the limits (:class:`VideoLimits`): a film is colorized frame by frame at its own resolution,
about 0.1-0.5 s a 640 x 360 frame on a 2-core CPU with the demo's model, and the server does one
job at a time, so a long or large film would hold the page for everyone for many minutes. The
default, **20 seconds and 1 megapixel a frame (1280 x 720 fits)**, keeps a job to a few minutes;
the byte limit is checked while the upload streams in, seconds and size from the header before
anything is decoded.

Routes (added to :func:`colorize.serve.app.create_app` by :func:`video_routes`):

- ``POST /api/videos``: the raw file, its name in ``X-Filename``; starts colorizing with the model
  of ``?model=`` and answers ``{"id", "name", "width", "height", "seconds", "frames"}``;
- ``GET /api/videos/{id}``: ``{"state": "queued" | "running" | "done" | "error", "done", "frames",
  "error"}``, the page polls it for the progress bar;
- ``GET /api/videos/{id}/colorized.mp4``: the result (``download=1``: as an attachment).

Every upload and result lives in one temporary folder, removed when the server stops.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from colorize.data.videos import NotAVideoError
from colorize.serve.catalog import Catalog
from colorize.serve.uploads import UploadRejected, display_name

__all__ = ["VideoJobs", "VideoLimits", "video_routes"]

log = logging.getLogger(__name__)

UPLOAD_FILE, RESULT_FILE = "upload", "colorized.mp4"


@dataclass(frozen=True)
class VideoLimits:
    """What one video may be: ``max_seconds`` long, ``max_pixels`` a frame, ``max_bytes`` of file."""

    max_seconds: float = 20.0
    max_pixels: int = 1_000_000
    max_bytes: int = 100 * 1000 * 1000

    def describe(self) -> str:
        return f"{self.max_seconds:g} seconds and {self.max_pixels / 1e6:g} megapixels a frame"


@dataclass
class VideoJob:
    id: str
    name: str
    folder: Path
    model: int
    width: int = 0
    height: int = 0
    seconds: float = 0.0
    frames: int = 0
    done: int = 0
    state: str = "queued"
    error: str | None = None
    thread: threading.Thread | None = field(default=None, repr=False)

    def as_json(self) -> dict:
        keys = ("id", "name", "width", "height", "seconds", "frames", "done", "state", "error")
        return {k: getattr(self, k) for k in keys}


def probe(path: Path, name: str, limits: VideoLimits) -> tuple[int, int, float, int]:
    """``(width, height, seconds, frames)`` of an uploaded video, or :class:`UploadRejected` naming it."""
    from colorize.inference.video import open_video

    try:
        container = open_video(path)
    except NotAVideoError as error:
        raise UploadRejected(f"{name}: {str(error).partition(': ')[2] or error}", 415) from None
    try:
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        if stream.duration is not None and stream.time_base is not None:
            seconds = float(stream.duration * stream.time_base)
        else:
            seconds = (container.duration or 0) / 1e6
        rate = stream.average_rate or stream.guessed_rate
        frames = int(stream.frames or (round(seconds * rate) if rate else 0))
    finally:
        container.close()
    if width * height > limits.max_pixels:
        raise UploadRejected(f"{name}: {width} x {height} is over {limits.max_pixels / 1e6:g} megapixels a frame", 413)
    if seconds > limits.max_seconds:
        raise UploadRejected(f"{name}: {seconds:.1f} s is longer than {limits.max_seconds:g} s", 413)
    return width, height, seconds, frames


class VideoJobs:
    """Uploaded videos and their colorization, one at a time, in a temporary folder."""

    def __init__(self, catalog: Catalog, limits: VideoLimits | None = None, parent: str | None = None) -> None:
        self.catalog = catalog
        self.limits = limits or VideoLimits()
        self._tmp = tempfile.TemporaryDirectory(prefix="colorize-videos-", dir=parent)
        self.folder = Path(self._tmp.name)
        self.jobs: dict[str, VideoJob] = {}
        self._work = threading.Lock()  # one film at a time: each takes both cores for minutes

    async def receive(self, raw_name: str | None, request: Request, model: int) -> VideoJob:
        name = display_name(raw_name)
        declared = request.headers.get("content-length")
        if declared and int(declared) > self.limits.max_bytes:
            raise UploadRejected(f"{name}: over {self.limits.max_bytes / 1e6:g} MB", 413)
        job = VideoJob(uuid.uuid4().hex, name, self.folder / uuid.uuid4().hex, model)
        job.folder.mkdir()
        size = 0
        try:
            with open(job.folder / UPLOAD_FILE, "xb") as handle:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > self.limits.max_bytes:
                        raise UploadRejected(f"{name}: over {self.limits.max_bytes / 1e6:g} MB", 413)
                    handle.write(chunk)
            if size == 0:
                raise UploadRejected(f"{name}: the file is empty (0 bytes)")
            job.width, job.height, job.seconds, job.frames = await run_in_threadpool(
                probe, job.folder / UPLOAD_FILE, name, self.limits
            )
        except BaseException:
            shutil.rmtree(job.folder, ignore_errors=True)
            raise
        self.jobs[job.id] = job
        job.thread = threading.Thread(target=self._run, args=(job,), daemon=True, name=f"video-{job.id[:8]}")
        job.thread.start()
        return job

    def _run(self, job: VideoJob) -> None:
        from colorize.inference.video import colorize_video

        with self._work:
            job.state = "running"
            try:
                colorizer = self.catalog.get(job.model)

                def progress(done: int) -> None:
                    job.done = done

                result = colorize_video(
                    colorizer.generator,  # mirror averaging off for video, as colorize predict does
                    job.folder / UPLOAD_FILE,
                    job.folder / RESULT_FILE,
                    target_size=colorizer.image_size,
                    on_batch=progress,
                )
                job.frames, job.done = result.frames, result.frames
                if result.broken:
                    job.error = result.broken
                job.state = "done"
                log.info("colorized video %s: %d frames in %.1f s", job.name, result.frames, result.seconds)
            except Exception as error:  # the page shows it; the server goes on
                log.warning("colorizing video %s failed: %s", job.name, error)
                job.state, job.error = "error", f"{job.name}: {error}"

    def get(self, job_id: str) -> VideoJob:
        if job_id not in self.jobs:
            raise KeyError(f"no video {job_id!r} (the server may have restarted)")
        return self.jobs[job_id]

    def close(self) -> None:
        self._tmp.cleanup()


def video_routes(jobs: VideoJobs) -> list[Route]:
    """The routes of the module docstring."""

    async def upload(request: Request) -> Response:
        try:
            model = jobs.catalog.index(request.query_params.get("model"))
            job = await jobs.receive(unquote(request.headers.get("x-filename", "")), request, model)
        except KeyError as err:
            return JSONResponse({"error": err.args[0]}, status_code=404)
        except UploadRejected as err:
            log.info("refused a video: %s", err.message)
            return JSONResponse({"error": err.message}, status_code=err.status)
        return JSONResponse(job.as_json())

    async def status(request: Request) -> Response:
        try:
            return JSONResponse(jobs.get(request.path_params["job_id"]).as_json())
        except KeyError as err:
            return JSONResponse({"error": err.args[0]}, status_code=404)

    async def result(request: Request) -> Response:
        try:
            job = jobs.get(request.path_params["job_id"])
        except KeyError as err:
            return JSONResponse({"error": err.args[0]}, status_code=404)
        if job.state != "done":
            return JSONResponse({"error": f"{job.name}: not colorized yet ({job.state})"}, status_code=409)
        headers = {"Cache-Control": "no-store"}
        if request.query_params.get("download") == "1":
            stem = Path(job.name).stem or "video"
            headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(stem + '-colorized.mp4')}"
        return FileResponse(job.folder / RESULT_FILE, media_type="video/mp4", headers=headers)

    async def limits(request: Request) -> Response:
        return JSONResponse(
            {
                "max_seconds": jobs.limits.max_seconds,
                "max_pixels": jobs.limits.max_pixels,
                "max_bytes": jobs.limits.max_bytes,
                "describe": jobs.limits.describe(),
            }
        )

    return [
        Route("/api/videos", upload, methods=["POST"]),
        Route("/api/videos/limits", limits),
        Route("/api/videos/{job_id}", status),
        Route("/api/videos/{job_id}/colorized.mp4", result),
    ]
