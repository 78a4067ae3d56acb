"""Finding video files: which inputs of ``colorize predict`` are films rather than photos.

Only names are looked at here (decoding is :mod:`colorize.inference.video`'s, with PyAV), so
the datamodule can sort a folder into photos and videos without importing a video library.
"""

from __future__ import annotations

import os
from pathlib import Path

VIDEO_SUFFIXES: frozenset[str] = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts"})
"""Lower-case suffixes of the files :func:`find_videos` picks up (matched case-insensitively)."""

OUTPUT_FORMATS: dict[str, str] = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
"""Suffix of a colorized video -> FFmpeg's muxer. All take H.264 and AAC; Matroska takes any audio or subtitle codec."""


class NotAVideoError(ValueError):
    """A file that FFmpeg cannot open, or that holds no video stream."""


def is_video_path(path: str | os.PathLike) -> bool:
    """Whether ``path``'s suffix names a video container (the file itself is not opened)."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def find_videos(root: str | os.PathLike) -> list[Path]:
    """All video files under ``root`` (recursive), sorted by relative path; ``[root]`` if it is a video file.

    Hidden files and folders (names starting with ".") are ignored, as :func:`colorize.data.images.find_images`
    does. A folder without videos gives an empty list: videos are optional beside photos.

    Raises:
        FileNotFoundError: ``root`` does not exist.
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"no such file or folder: {root}")
    if root.is_file():
        return [root] if is_video_path(root) else []
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        found += [Path(dirpath, name) for name in filenames if not name.startswith(".") and is_video_path(name)]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())
