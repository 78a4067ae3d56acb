"""Colour hints on the page: the ``hints`` of a picture request, checked as the CLI checks them, and their cache key.

A request for a colorized picture may carry ``hints``: a JSON list in the hints file's per-photo
format (:mod:`colorize.inference.hints`: ``[{"x", "y", "color" | "ab", "size"}...]``, the photo's
own upright pixels), URL-encoded in the query. It is a query parameter, not a POST body, so the
page's download link is a plain link to the very picture shown, hints included. Why the limits:
the whole request head must fit uvicorn's (h11's) 16 KB, and a hundred hints is far more than a
person places by hand (Zhang et al.'s test protocol stops at fifty; training draws at most 64).

The hints are checked by :func:`colorize.inference.hints.parse_hints` against the photo's size,
so a bad entry gets the CLI's one-line message naming the photo and the hint; they then reach
the model through :meth:`colorize.inference.colorizer.Colorizer.colorize`, the path of
``colorize predict --hints``. A model trained without hints refuses them (:func:`check_takes_hints`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from colorize.inference.hints import Hint, parse_hints

__all__ = ["MAX_HINTS", "MAX_HINTS_CHARS", "NO_HINTS", "HintsRefused", "check_takes_hints", "hints_key", "read_hints"]

#: The most hints one picture may take.
MAX_HINTS = 100
#: The longest ``hints`` value accepted, characters of JSON (a hundred ``ab`` hints fit well within it).
MAX_HINTS_CHARS = 8000
#: Why a model takes no hints, and what trains one that does.
NO_HINTS = "it was trained without hints (configs/offline_hints.yaml trains one that takes them)"


class HintsRefused(ValueError):
    """Hints the page is answered 400 about, with a one-line message."""


def read_hints(raw: str | None, photo: str, size: tuple[int, int]) -> list[Hint]:
    """The hints of a request's ``hints`` value for ``photo`` of ``size`` ``(width, height)``; none: ``[]``.

    Raises:
        HintsRefused: naming the photo, for a value that is not JSON, too long, holds too many
            hints, or any entry :func:`~colorize.inference.hints.parse_hints` refuses.
    """
    if raw is None or raw == "":
        return []
    if len(raw) > MAX_HINTS_CHARS:
        raise HintsRefused(f"{photo}: the hints are {len(raw)} characters long; at most {MAX_HINTS_CHARS} are taken")
    try:
        entries = json.loads(raw)
    except ValueError as err:
        raise HintsRefused(f"{photo}: the hints are not JSON: {err}") from None
    if isinstance(entries, list) and len(entries) > MAX_HINTS:
        raise HintsRefused(f"{photo}: {len(entries)} hints; a picture takes at most {MAX_HINTS}")
    try:
        return parse_hints(entries, photo, size)
    except ValueError as err:
        raise HintsRefused(str(err)) from None


def hints_key(hints: Sequence[Hint]) -> str:
    """What names a picture made with ``hints`` in the cache: ``""`` for none, else ``-h`` and a digest.

    The digest is of the checked hints (a colour given as hex or as its a*b* is the same hint), so
    the hint-free picture is never returned for a hinted request, nor one hint set's for another's.
    """
    if not hints:
        return ""
    values = [[h.x, h.y, round(h.a, 4), round(h.b, 4), h.size] for h in hints]
    return "-h" + hashlib.sha256(json.dumps(values).encode()).hexdigest()[:20]


def check_takes_hints(colorizer, label: str, hints: Sequence[Hint]) -> None:
    """Refuse ``hints`` for a model that cannot take them, in one line naming it and why.

    Raises:
        HintsRefused: ``hints`` is not empty and ``colorizer.takes_hints`` is not true.
    """
    if hints and not getattr(colorizer, "takes_hints", False):
        raise HintsRefused(f"model {label} cannot take colour hints: {NO_HINTS}")
