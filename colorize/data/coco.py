"""The paper's dataset: fast.ai's COCO sample (21,837 photos), downloaded once into a cache.

Every step leaves either nothing or a complete result behind: the download goes to
``coco_sample.tgz.part`` and is renamed only when complete, and the archive is extracted
into a temporary folder renamed only when complete. So an interrupted run is simply
repeated, and a finished cache is used without touching the network.
"""

from __future__ import annotations

import http.client
import logging
import os
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

log = logging.getLogger(__name__)

COCO_SAMPLE_URL = "https://s3.amazonaws.com/fast-ai-coco/coco_sample.tgz"
COCO_SAMPLE_SIZE = 21837
"""Photos in ``train_sample/``; used to check split sizes before anything is downloaded."""

CONNECT_TIMEOUT_S = 10.0
_ARCHIVE = "coco_sample.tgz"
_FOLDER = "coco_sample"
_IMAGES = "train_sample"
_CHUNK = 1 << 20


class DatasetUnavailableError(RuntimeError):
    """The COCO sample could not be downloaded or extracted; the message says how to go on without it."""


def _unavailable(url: str, reason: str) -> DatasetUnavailableError:
    return DatasetUnavailableError(
        f"Downloading the COCO sample from {url} failed: {reason}. "
        "To train without it, use a local folder of photos: pass --data.root /path/to/photos, "
        "or run `make sample-data` and pass --data.root data/sample."
    )


def coco_sample_dir(cache_dir: str | os.PathLike) -> Path:
    """Where :func:`ensure_coco_sample` puts the photos (they may not be there yet)."""
    return Path(cache_dir).expanduser() / _FOLDER / _IMAGES


def ensure_coco_sample(cache_dir: str | os.PathLike) -> Path:
    """Return the ``train_sample/`` folder of the COCO sample, downloading and extracting it if needed.

    Raises:
        DatasetUnavailableError: the download or extraction failed (within seconds when
            the host is unreachable); the message explains how to use a local folder instead.
    """
    target = coco_sample_dir(cache_dir)
    if target.is_dir():
        return target
    cache = Path(cache_dir).expanduser()
    cache.mkdir(parents=True, exist_ok=True)
    url = COCO_SAMPLE_URL
    archive = cache / _ARCHIVE
    if not archive.exists():
        _download(url, archive)
    _extract(archive, target.parent, url)
    archive.unlink(missing_ok=True)  # ~3 GB once extracted; the folder is the cache
    return target


def _download(url: str, archive: Path) -> None:
    partial = archive.with_name(archive.name + ".part")
    log.info("Downloading the COCO sample from %s to %s", url, archive)
    try:
        with urllib.request.urlopen(url, timeout=CONNECT_TIMEOUT_S) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            received = 0
            with open(partial, "wb") as out, tqdm(total=total, unit="B", unit_scale=True, desc=archive.name) as bar:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        if total is not None and received != total:
            raise OSError(f"connection closed after {received} of {total} bytes")
    # URLError, timeouts, refused connections and http.client's IncompleteRead are all OSError
    # or HTTPException; ValueError covers a malformed URL.
    except (OSError, ValueError, http.client.HTTPException) as err:
        partial.unlink(missing_ok=True)
        raise _unavailable(url, f"{type(err).__name__}: {err}") from err
    os.replace(partial, archive)


def _safe_members(tar: tarfile.TarFile, dest: Path) -> list[tarfile.TarInfo]:
    # Only for Pythons without tarfile's "data" filter: refuse links, devices and escaping paths.
    dest = dest.resolve()
    members = []
    for member in tar.getmembers():
        if not (member.isfile() or member.isdir()):
            continue
        if not (dest / member.name).resolve().is_relative_to(dest):
            raise tarfile.TarError(f"archive member {member.name!r} escapes the target folder")
        members.append(member)
    return members


def _extract(archive: Path, folder: Path, url: str) -> None:
    """Extract ``archive`` and move its ``train_sample/`` parent to ``folder``, atomically."""
    log.info("Extracting %s", archive)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
    try:
        with tarfile.open(archive, "r:*") as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(tmp, filter="data")
            else:
                tar.extractall(tmp, members=_safe_members(tar, tmp))
        # The archive holds either coco_sample/train_sample/ or train_sample/ at its top.
        candidates = [tmp / _IMAGES, tmp / _FOLDER / _IMAGES, *tmp.glob(f"*/{_IMAGES}")]
        images = next((c for c in candidates if c.is_dir()), None)
        if images is None:
            raise tarfile.TarError(f"no {_IMAGES}/ folder inside the archive")
        if (folder / _IMAGES).is_dir():
            return  # another process finished first
        if folder.exists():
            shutil.rmtree(folder)  # a stale copy without train_sample/
        os.replace(images.parent, folder)
    except (tarfile.TarError, EOFError) as err:
        # A corrupt archive would fail the same way on every rerun: remove it so the next run downloads afresh.
        archive.unlink(missing_ok=True)
        raise _unavailable(url, f"cannot extract {archive}: {err}") from err
    except OSError as err:
        raise _unavailable(url, f"cannot extract {archive}: {err}") from err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
