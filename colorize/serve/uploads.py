"""Uploaded photos: checked on the way in, kept in one temporary folder, gone when the server stops.

Why the limits: a photo is colorized at its own resolution. That work runs in strips
(:mod:`colorize.inference.strips`), so memory grows only with the uint8 copies of the photo
(the upload, its colorized version, the gray one: about 10 bytes per pixel; measured, a
40 megapixel photo took 0.41 GB beyond the server's own, so about 1 GB at 100) rather than
with float32 Lab of the whole photo as it did (5.3 GB at 40 megapixels). Hence 100
megapixels, a 1200 dpi scan of a 13 x 18 cm print. A bigger one, or a decompression bomb
(a tiny file that decodes to gigapixels), would take the server down for everyone. The
byte limit is checked while the upload streams in, the pixel limit from the image header,
before anything is decoded.

Why one folder: the server must not leave anything behind on the machine it runs on. Every
upload and every picture made from it lives under a ``tempfile`` folder that is removed on
:meth:`PhotoStore.close` (and, should the process end without it, by ``tempfile``'s
finalizer, or, after a ``kill -9``, by the next server that starts: see
:mod:`colorize.serve.leftovers`); old photos are evicted once more than ``max_photos`` are
held or their files weigh more than ``max_store_bytes`` together (a 50 MB upload plus its
full-size renders is easily 200 MB).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import threading
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from colorize.data.images import PHOTO_FORMATS, UnreadableImageError, has_color, load_rgb
from colorize.serve.leftovers import folder_prefix, remove_dead_servers

__all__ = ["Photo", "PhotoStore", "UploadLimits", "UploadRejected", "display_name"]

log = logging.getLogger(__name__)

UPLOAD_FILE = "upload"
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class UploadLimits:
    """What one upload may weigh: ``max_bytes`` of file, ``max_pixels`` once decoded."""

    max_bytes: int = 50 * 1000 * 1000
    max_pixels: int = 100 * 1000 * 1000

    def __post_init__(self) -> None:
        if self.max_bytes <= 0 or self.max_pixels <= 0:
            raise ValueError(f"upload limits must be positive, got {self.max_bytes} bytes, {self.max_pixels} pixels")

    def describe(self) -> str:
        return f"{self.max_bytes / 1e6:g} MB and {self.max_pixels / 1e6:g} megapixels"


class UploadRejected(ValueError):
    """An upload the page answers with ``message`` (naming the file) and HTTP ``status``; the server goes on."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def display_name(raw: str | None) -> str:
    """The name a browser sent, fit to show: last path part only, no control characters, at most 200 characters.

    It is only ever shown and used in a download's name; files on disk get generated names.
    """
    name = _UNSAFE.sub("", (raw or "").replace("\\", "/")).rsplit("/", 1)[-1].strip()
    if len(name) > 200:
        name = name[:120] + "…" + name[-79:]
    return name or "photo"


@dataclass
class Photo:
    """One admitted upload: its folder holds the file as sent plus every picture made from it."""

    id: str
    name: str
    folder: Path
    width: int
    height: int
    has_color: bool

    @property
    def upload_path(self) -> Path:
        return self.folder / UPLOAD_FILE

    def load_rgb(self) -> torch.Tensor:
        """The upload decoded again, as uint8 ``(3, H, W)``: cheaper than holding every photo in memory."""
        try:
            image = load_rgb(self.upload_path)
        except UnreadableImageError as err:
            if not self.upload_path.exists():
                raise UploadRejected(f"{self.name}: no longer held by the server; upload it again", 410) from err
            raise
        return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "width": self.width,
            "height": self.height,
            "has_color": self.has_color,
        }


def _folder_bytes(folder: Path) -> int:
    try:
        return sum(entry.stat().st_size for entry in os.scandir(folder) if entry.is_file())
    except OSError:
        return 0  # removed meanwhile


class PhotoStore:
    """The temporary folder of one server and the photos in it, newest last.

    Args:
        limits: what one upload may weigh.
        max_photos: how many photos are kept; admitting one more removes the oldest.
        parent: where the temporary folder is made (default: the system's temp folder); the
            folders that dead servers left there are removed first.
        max_store_bytes: what the kept photos and their pictures may weigh together; beyond it
            the oldest photos are removed (never the newest one).
    """

    def __init__(
        self,
        limits: UploadLimits | None = None,
        max_photos: int = 64,
        parent: str | None = None,
        max_store_bytes: int = 2 * 1000**3,
    ) -> None:
        if max_photos < 1:
            raise ValueError(f"max_photos must be >= 1, got {max_photos}")
        if max_store_bytes < 1:
            raise ValueError(f"max_store_bytes must be >= 1, got {max_store_bytes}")
        self.limits = limits or UploadLimits()
        self.max_photos = max_photos
        self.max_store_bytes = max_store_bytes
        remove_dead_servers(parent or tempfile.gettempdir())
        self._tmp = tempfile.TemporaryDirectory(prefix=folder_prefix(), dir=parent)
        self.folder = Path(self._tmp.name)
        self._photos: OrderedDict[str, Photo] = OrderedDict()
        self._lock = threading.Lock()

    # ---- receiving
    async def receive(self, raw_name: str | None, chunks: AsyncIterable[bytes], declared_size: int | None) -> Path:
        """Write an upload's bytes to a new folder, refusing it as soon as it is over ``max_bytes``.

        Returns the new photo folder; pass it to :meth:`admit`. A refused upload leaves nothing behind.
        """
        name = display_name(raw_name)
        if declared_size is not None and declared_size > self.limits.max_bytes:
            raise self._too_many_bytes(name, declared_size)
        folder = self.folder / uuid.uuid4().hex
        folder.mkdir()
        size = 0
        try:
            with open(folder / UPLOAD_FILE, "xb") as handle:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > self.limits.max_bytes:
                        raise self._too_many_bytes(name, size, at_least=True)
                    handle.write(chunk)
            if size == 0:
                raise UploadRejected(f"{name}: the file is empty (0 bytes)")
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return folder

    def _too_many_bytes(self, name: str, size: int, at_least: bool = False) -> UploadRejected:
        more = "over " if at_least else ""
        return UploadRejected(
            f"{name}: {more}{size / 1e6:.1f} MB; photos may be at most {self.limits.max_bytes / 1e6:g} MB", 413
        )

    def admit(self, folder: Path, raw_name: str | None) -> tuple[Photo, torch.Tensor]:
        """Check that the received file is a usable image within the pixel limit, and keep it.

        Returns:
            The photo and its decoded pixels, uint8 ``(3, H, W)`` (so the caller need not decode again).

        Raises:
            UploadRejected: not an image, truncated, or too many pixels; ``folder`` is removed.
        """
        name = display_name(raw_name)
        try:
            photo, rgb = self._decode(folder, name)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        with self._lock:
            self._photos[photo.id] = photo
            while len(self._photos) > self.max_photos:
                _, old = self._photos.popitem(last=False)
                shutil.rmtree(old.folder, ignore_errors=True)
                log.debug("evicted %s (%s)", old.id, old.name)
        self.trim()
        return photo, rgb

    def size_bytes(self) -> int:
        """What the kept photos' folders weigh now, bytes."""
        with self._lock:
            folders = [p.folder for p in self._photos.values()]
        return sum(_folder_bytes(folder) for folder in folders)

    def trim(self, keep: str | None = None) -> None:
        """Remove the least recently used photos until the rest weigh at most ``max_store_bytes``.

        ``keep`` (a photo just rendered) counts as the most recently used; the last photo always stays.
        """
        with self._lock:
            if keep in self._photos:
                self._photos.move_to_end(keep)
            sizes = OrderedDict((pid, _folder_bytes(p.folder)) for pid, p in self._photos.items())
            total = sum(sizes.values())
            while total > self.max_store_bytes and len(self._photos) > 1:
                old_id, old = self._photos.popitem(last=False)
                total -= sizes.pop(old_id)
                shutil.rmtree(old.folder, ignore_errors=True)
                log.debug("evicted %s (%s): the store was over %d bytes", old.id, old.name, self.max_store_bytes)

    def _decode(self, folder: Path, name: str) -> tuple[Photo, torch.Tensor]:
        path = folder / UPLOAD_FILE
        too_many = f"photos may have at most {self.limits.max_pixels / 1e6:g} megapixels"
        try:
            # open() reads only the header: the size is known before a byte of pixels is decoded.
            with Image.open(path, formats=PHOTO_FORMATS) as image:
                width, height = image.size
        except Image.DecompressionBombError as err:
            raise UploadRejected(f"{name}: far too many pixels ({err}); {too_many}", 413) from err
        except Exception as err:
            raise UploadRejected(f"{name}: not an image this server can read ({type(err).__name__})") from err
        if width * height > self.limits.max_pixels:
            raise UploadRejected(
                f"{name}: {width} × {height} is {width * height / 1e6:.1f} megapixels; {too_many}", 413
            )
        try:
            rgb = load_rgb(path)
        except UnreadableImageError as err:
            raise UploadRejected(
                f"{name}: cannot read this image, it may be truncated or corrupt ({err.reason})"
            ) from err
        tensor = torch.from_numpy(np.asarray(rgb).copy()).permute(2, 0, 1)
        # EXIF rotation may have swapped the sides: report the upright size.
        photo = Photo(
            id=folder.name,
            name=name,
            folder=folder,
            width=rgb.width,
            height=rgb.height,
            has_color=has_color(tensor),
        )
        return photo, tensor

    # ---- looking up
    def get(self, photo_id: str) -> Photo:
        with self._lock:
            photo = self._photos.get(photo_id)
        if photo is None:
            raise UploadRejected(
                f"no photo {photo_id!r} here (the server restarted or evicted it); upload it again", 404
            )
        return photo

    def __len__(self) -> int:
        with self._lock:
            return len(self._photos)

    # ---- closing
    def close(self) -> None:
        """Remove the temporary folder and everything in it."""
        with self._lock:
            self._photos.clear()
        self._tmp.cleanup()
        log.debug("removed %s", self.folder)

    def __enter__(self) -> PhotoStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
