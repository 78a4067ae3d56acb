"""The web app behind ``colorize serve``: one hand-written page and a small JSON + PNG API.

Why Starlette and not Gradio (the usual choice for model demos): Gradio would add 22
packages to this environment, its default theme loads Google Fonts and it reports analytics
unless told not to, while this page must work on a machine with no network at all.
Starlette plus uvicorn are two small pure-Python packages, the page is three files in
``static/`` that load nothing from outside, and every route is a few lines a reader can check.

Routes (all relative, so the page also works behind a path prefix):

- ``GET /``: the page; ``GET /static/*``: its script and style.
- ``GET /api/models``: the model menu and the upload limits.
- ``GET /api/models/{index}``: one model's name, source and test row beside all-gray (loads it).
- ``POST /api/photos``: the raw file as the body, its name in ``X-Filename`` (URL-encoded);
  answers the photo's id, name, size and whether it had colour, or ``{"error": ...}``.
- ``GET /api/photos/{id}/{gray|original|colorized}.png``: pictures of it; ``colorized`` takes
  ``model``, ``strength`` and ``full=1`` (full resolution; otherwise a preview of at most
  :data:`~colorize.serve.render.PREVIEW_SIDE` px) and ``download=1``.
- ``/api/videos...``: short videos, colorized with progress (:mod:`colorize.serve.videos`).

Every failure answers ``{"error": "<file name>: what went wrong"}`` with a 4xx/5xx status and
the server goes on. Heavy work (decoding, colorizing, PNG encoding) runs in a worker thread,
one job at a time, so a burst of uploads queues instead of exhausting memory.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote, unquote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from colorize.serve.catalog import Catalog
from colorize.serve.render import MAX_STRENGTH, colorize_at_strength, gray_of, preview, save_png
from colorize.serve.uploads import Photo, PhotoStore, UploadRejected
from colorize.serve.videos import VideoJobs, video_routes

__all__ = ["STATIC_DIR", "create_app"]

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
KEEP_RENDERS = 6
"""Colorized pictures kept per photo (strengths and models a visitor went back and forth between)."""


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _parse_strength(value: str | None) -> float:
    if value is None or value == "":
        return 1.0
    try:
        strength = float(value)
    except ValueError:
        strength = float("nan")
    if not 0.0 <= strength <= MAX_STRENGTH:
        raise ValueError(f"strength must be a number from 0 to {MAX_STRENGTH:g}, got {value!r}")
    # The page's slider moves in steps of 0.05: two decimals name a picture in the cache.
    return round(strength, 2)


class _Pictures:
    """Makes and caches the PNGs of each photo, one at a time."""

    def __init__(self, catalog: Catalog, store: PhotoStore) -> None:
        self.catalog = catalog
        self.store = store
        self.work = threading.Lock()

    def admit(self, folder: Path, name: str | None) -> Photo:
        with self.work:
            photo, rgb = self.store.admit(folder, name)
            save_png(preview(gray_of(rgb)), photo.folder / "gray.png")
            if photo.has_color:
                save_png(preview(rgb), photo.folder / "original.png")
            return photo

    def colorized(self, photo: Photo, model: int, strength: float, full: bool) -> Path:
        stem = f"colorized-m{model}-s{strength:.2f}"
        full_path, preview_path = photo.folder / f"{stem}.png", photo.folder / f"{stem}-preview.png"
        with self.work:
            if not (full_path.is_file() and preview_path.is_file()):
                image = colorize_at_strength(self.catalog.get(model), photo.load_rgb(), strength)
                save_png(image, full_path, fast=True)
                save_png(preview(image), preview_path)
                self._forget_old(photo)
        return full_path if full else preview_path

    def _forget_old(self, photo: Photo) -> None:
        renders = sorted(photo.folder.glob("colorized-*.png"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in renders[KEEP_RENDERS * 2 :]:
            old.unlink(missing_ok=True)


def create_app(catalog: Catalog, store: PhotoStore, *, allowed_hosts: Sequence[str] | None = None) -> Starlette:
    """The ASGI app; ``store`` is closed (its temporary folder removed) when the app shuts down.

    Args:
        allowed_hosts: ``Host`` headers to accept (e.g. ``["127.0.0.1", "localhost"]`` for a
            server bound to loopback, which stops DNS-rebinding pages from reaching it); ``None``
            accepts any.
    """
    pictures = _Pictures(catalog, store)
    videos = VideoJobs(catalog)  # short films: colorize/serve/videos.py, routes under /api/videos

    async def index(request: Request) -> Response:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-store"})

    async def models(request: Request) -> Response:
        limits = store.limits
        return JSONResponse(
            {
                "models": catalog.menu(),
                "default": catalog.default,
                "limits": {"max_bytes": limits.max_bytes, "max_pixels": limits.max_pixels},
                "max_strength": MAX_STRENGTH,
            }
        )

    async def model(request: Request) -> Response:
        try:
            index = catalog.index(request.path_params["index"])
        except KeyError as err:
            return _error(err.args[0], 404)
        try:
            return JSONResponse(await run_in_threadpool(catalog.describe, index))
        except (OSError, ValueError) as err:  # the loader's own, clear messages: no traceback needed
            message = f"cannot load model {catalog.choices[index].label}: {err}"
            log.warning("%s", message)
            return _error(message, 500)
        except Exception as err:
            log.exception("cannot load model %s", catalog.choices[index].path)
            return _error(f"cannot load model {catalog.choices[index].label}: {err}", 500)

    async def upload(request: Request) -> Response:
        raw_name = unquote(request.headers.get("x-filename", ""))
        declared = request.headers.get("content-length")
        try:
            folder = await store.receive(raw_name, request.stream(), int(declared) if declared else None)
            photo = await run_in_threadpool(pictures.admit, folder, raw_name)
        except UploadRejected as err:
            log.info("refused an upload: %s", err.message)
            return _error(err.message, err.status)
        log.info("received %s (%d x %d)", photo.name, photo.width, photo.height)
        return JSONResponse(photo.as_json())

    async def picture(request: Request) -> Response:
        kind = request.path_params["kind"]
        query = request.query_params
        photo = None
        try:
            photo = store.get(request.path_params["photo_id"])
            if kind in ("gray", "original"):
                path = photo.folder / f"{kind}.png"
                if not path.is_file():
                    return _error(f"{photo.name}: no {kind} picture (it had no colour)", 404)
            else:
                index = catalog.index(query.get("model"))
                strength = _parse_strength(query.get("strength"))
                full = query.get("full") == "1" or query.get("download") == "1"
                path = await run_in_threadpool(pictures.colorized, photo, index, strength, full)
        except UploadRejected as err:
            return _error(err.message, err.status)
        except KeyError as err:
            return _error(err.args[0], 404)
        except ValueError as err:
            return _error(str(err), 400)
        except Exception as err:
            name = photo.name if photo else request.path_params["photo_id"]
            log.exception("colorizing %s failed", name)
            return _error(f"{name}: colorizing failed: {err}", 500)
        headers = {"Cache-Control": "no-store"}
        if query.get("download") == "1":
            stem = Path(photo.name).stem or "photo"
            headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(stem + '-colorized.png')}"
        return FileResponse(path, media_type="image/png", headers=headers)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        try:
            yield
        finally:
            store.close()
            videos.close()

    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))] if allowed_hosts else []
    routes = [
        Route("/", index),
        Route("/api/models", models),
        Route("/api/models/{index}", model),
        Route("/api/photos", upload, methods=["POST"]),
        Route("/api/photos/{photo_id}/{kind:str}.png", picture),
        *video_routes(videos),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
