"""The web app behind ``colorize serve``: one hand-written page and a small JSON + PNG API.

Why Starlette and not Gradio (the usual choice for model demos): Gradio would add 22
packages to this environment, its default theme loads Google Fonts and it reports analytics
unless told not to, while this page must work on a machine with no network at all.
Starlette plus uvicorn are two small pure-Python packages, the page is a few files in
``static/`` that load nothing from outside, and every route is a few lines a reader can check.

Routes (all relative, so the page also works behind a path prefix):

- ``GET /``: the page; ``GET /static/*``: its script and style.
- ``GET /api/models``: the model menu and the upload limits.
- ``GET /api/models/{index}``: one model's name, source and test row beside all-gray (loads it).
- ``POST /api/photos``: the raw file as the body, its name in ``X-Filename`` (URL-encoded);
  answers the photo's id, name, size and whether it had colour, or ``{"error": ...}``.
- ``GET /api/photos/{id}/{gray|original|colorized}.png``: pictures of it; ``colorized`` takes
  ``model``, ``strength``, ``hints`` (a JSON list in the hints file's per-photo format, for a
  model that takes them: :mod:`colorize.serve.hints`), ``full=1`` (full resolution; otherwise a
  preview of at most :data:`~colorize.serve.render.PREVIEW_SIDE` px) and ``download=1``.
- ``/api/videos...``: short videos, colorized with progress (:mod:`colorize.serve.videos`).

Every failure answers ``{"error": "<file name>: what went wrong"}`` with a 4xx/5xx status and
the server goes on. Heavy work (decoding, colorizing, PNG encoding) runs in one worker thread,
one job at a time, behind a short queue (:mod:`colorize.serve.jobs`): beyond it, and beyond a
few uploads streaming at once, the answer is 503 with a message the page shows; a job whose
visitor has gone is dropped. A POST from another site is refused and every answer forbids
framing (:mod:`colorize.serve.guard`). The API names models and files, never their paths.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote, unquote

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from colorize.inference.hints import Hint
from colorize.serve.catalog import Catalog
from colorize.serve.guard import SameOriginGuard
from colorize.serve.hints import check_takes_hints, hints_key, read_hints
from colorize.serve.jobs import Busy, ClientGone, JobQueue, Slots
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

    def colorized(self, photo: Photo, model: int, strength: float, full: bool, hints: Sequence[Hint] = ()) -> Path:
        stem = f"colorized-m{model}-s{strength:.2f}{hints_key(hints)}"
        full_path, preview_path = photo.folder / f"{stem}.png", photo.folder / f"{stem}-preview.png"
        with self.work:
            if not (full_path.is_file() and preview_path.is_file()):
                colorizer = self.catalog.get(model)
                check_takes_hints(colorizer, self.catalog.choices[model].label, hints)
                image = colorize_at_strength(colorizer, photo.load_rgb(), strength, hints=hints)
                save_png(image, full_path, fast=True)
                save_png(preview(image), preview_path)
                self._forget_old(photo)
                self.store.trim(keep=photo.id)
        return full_path if full else preview_path

    def _forget_old(self, photo: Photo) -> None:
        renders = sorted(photo.folder.glob("colorized-*.png"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in renders[KEEP_RENDERS * 2 :]:
            old.unlink(missing_ok=True)


def _busy(err: Busy) -> JSONResponse:
    return JSONResponse({"error": err.message}, status_code=503, headers={"Retry-After": "2"})


def create_app(
    catalog: Catalog,
    store: PhotoStore,
    *,
    allowed_hosts: Sequence[str] | None = None,
    max_waiting: int = 4,
    max_uploads: int = 4,
) -> Starlette:
    """The ASGI app; ``store`` is closed (its temporary folder removed) when the app shuts down.

    Args:
        allowed_hosts: ``Host`` headers to accept (e.g. ``["127.0.0.1", "localhost"]`` for a
            server bound to loopback, which stops DNS-rebinding pages from reaching it); ``None``
            accepts any.
        max_waiting: jobs (an upload's decoding, a picture, a model's loading) that may wait
            behind the running one; one more is answered 503.
        max_uploads: uploads that may stream to disk at once; one more is answered 503.

    The app's ``state.jobs`` is its :class:`~colorize.serve.jobs.JobQueue` (counts of computed,
    dropped and refused jobs).
    """
    pictures = _Pictures(catalog, store)
    jobs = JobQueue(max_waiting)
    receiving = Slots(max_uploads, "uploads")
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
            return JSONResponse(await jobs.run(catalog.describe, index, client_gone=request.is_disconnected))
        except Busy as err:
            return _busy(err)
        except ClientGone:
            return Response(status_code=503)
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
            receiving.take()
        except Busy as err:
            return _busy(err)  # before a byte of the body is read
        try:
            folder = await store.receive(raw_name, request.stream(), int(declared) if declared else None)
        except UploadRejected as err:
            log.info("refused an upload: %s", err.message)
            return _error(err.message, err.status)
        finally:
            receiving.give_back()
        try:
            photo = await jobs.run(pictures.admit, folder, raw_name, client_gone=request.is_disconnected)
        except (Busy, ClientGone) as err:
            shutil.rmtree(folder, ignore_errors=True)  # admit never ran: nothing else holds the file
            return _busy(err) if isinstance(err, Busy) else Response(status_code=503)
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
                hints = read_hints(query.get("hints"), photo.name, (photo.width, photo.height))
                full = query.get("full") == "1" or query.get("download") == "1"
                path = await jobs.run(
                    pictures.colorized, photo, index, strength, full, hints, client_gone=request.is_disconnected
                )
        except Busy as err:
            return _busy(err)
        except ClientGone:
            return Response(status_code=503)  # nobody is there to read it
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
            jobs.close()
            store.close()
            videos.close()

    middleware = [Middleware(SameOriginGuard)]
    if allowed_hosts:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)))
    routes = [
        Route("/", index),
        Route("/api/models", models),
        Route("/api/models/{index}", model),
        Route("/api/photos", upload, methods=["POST"]),
        Route("/api/photos/{photo_id}/{kind:str}.png", picture),
        *video_routes(videos),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.jobs, app.state.receiving = jobs, receiving
    return app
