"""User colour hints for full-resolution photos: the hints file, its checks, and hints at the working size.

A hints file (``colorize predict --hints hints.json``, ``colorize serve``'s download) maps photos,
by their path relative to the input folder (``/``-separated), to lists of hints::

    {"relative/path.jpg": [{"x": 412, "y": 230, "color": "#b03a2e"},
                           {"x": 80, "y": 40, "ab": [35.0, 20.0], "size": 6}]}

- ``x``, ``y``: the centre of the hinted square, in the original photo's pixels (upright, as
  displayed: EXIF orientation applied), ``0 <= x < width``, ``0 <= y < height``.
- ``color``: an sRGB hex colour ``#rrggbb``; its CIE a*b* are the hint (L* always stays the photo's).
  Or ``ab``: a*b* directly, each within ±110 (the span of the sRGB gamut). Exactly one of the two.
- ``size``: the side of the hinted square in original pixels, default :data:`DEFAULT_SIZE`.

A photo that is not listed gets no hints. The generator sees hints at its working size
(:func:`hint_planes`): each working pixel that a hinted square overlaps takes the mean a*b* of the
hints over its footprint, weighted by overlapping area, and is marked in the mask; so a 1-px hint
in a 4000-px photo still marks the working pixel it falls in.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from colorize.color import AB_SCALE

__all__ = [
    "DEFAULT_SIZE",
    "Hint",
    "hex_to_ab",
    "hint_planes",
    "hints_to_json",
    "parse_hints",
    "photo_size",
    "read_hints_file",
]

#: Default side of a hinted square in original pixels: Zhang et al.'s 6 px test patches at 256 px, for a photo
#: of about 1000 px on its shorter side.
DEFAULT_SIZE = 24

_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True)
class Hint:
    """One hint: the square of side ``size`` centred at ``(x, y)`` (original pixels) has CIE ``a``, ``b``."""

    x: float
    y: float
    a: float
    b: float
    size: float = DEFAULT_SIZE


def hex_to_ab(colour: str) -> tuple[float, float]:
    """CIE a*b* of an sRGB ``#rrggbb`` colour (D65, as :mod:`colorize.color`)."""
    from colorize.color import rgb_to_normalized_lab

    rgb = torch.tensor([int(colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=torch.uint8).view(1, 3, 1, 1)
    _, ab = rgb_to_normalized_lab(rgb)
    return float(ab[0, 0, 0, 0]) * AB_SCALE, float(ab[0, 1, 0, 0]) * AB_SCALE


def _number(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} must be a number, got {value!r}")
    return float(value)


def parse_hints(entries, photo: str, size: tuple[int, int] | None = None) -> list[Hint]:
    """Check one photo's list of hint objects and return them; ``size`` is the photo's ``(width, height)``.

    Raises ``ValueError`` naming the photo and the entry (its position from 0) with what is wrong.
    """
    if not isinstance(entries, list):
        raise ValueError(f"{photo!r}: hints must be a list of {{x, y, color|ab[, size]}} objects, got {entries!r}")
    hints = []
    for i, entry in enumerate(entries):
        where = f"{photo!r} hint {i}"
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where}: must be an object {{x, y, color|ab[, size]}}, got {entry!r}")
        unknown = sorted(set(entry) - {"x", "y", "color", "ab", "size"})
        if unknown:
            raise ValueError(f"{where}: unknown keys {unknown} (known: x, y, color, ab, size)")
        for key in ("x", "y"):
            if key not in entry:
                raise ValueError(f"{where}: {key} is missing")
        x, y = _number(entry["x"], f"{where}: x"), _number(entry["y"], f"{where}: y")
        if size is not None and not (0 <= x < size[0] and 0 <= y < size[1]):
            raise ValueError(f"{where}: ({x:g}, {y:g}) is outside the photo ({size[0]}x{size[1]} px)")
        if ("color" in entry) == ("ab" in entry):
            raise ValueError(f"{where}: give exactly one of color (an sRGB hex '#rrggbb') and ab ([a*, b*])")
        if "color" in entry:
            colour = entry["color"]
            if not isinstance(colour, str) or not _HEX.match(colour):
                raise ValueError(f"{where}: color must be an sRGB hex '#rrggbb', got {colour!r}")
            a, b = hex_to_ab(colour)
        else:
            ab = entry["ab"]
            if not isinstance(ab, list) or len(ab) != 2:
                raise ValueError(f"{where}: ab must be [a*, b*], got {ab!r}")
            a, b = (_number(v, f"{where}: ab") for v in ab)
            if max(abs(a), abs(b)) > AB_SCALE:
                raise ValueError(f"{where}: ab must lie within ±{AB_SCALE:g}, got {ab!r}")
        side = _number(entry.get("size", DEFAULT_SIZE), f"{where}: size")
        if side <= 0:
            raise ValueError(f"{where}: size must be > 0 pixels, got {entry['size']!r}")
        hints.append(Hint(x, y, a, b, side))
    return hints


def photo_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(width, height)`` of a photo as displayed (EXIF orientation applied), from its header only."""
    from PIL import Image

    with Image.open(path) as image:
        width, height = image.size
        if image.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # rotated by 90 degrees
            width, height = height, width
    return width, height


def read_hints_file(path: str | os.PathLike, inputs: Mapping[str, str | os.PathLike]) -> dict[str, list[Hint]]:
    """Read and check a hints file against the photos it may name, before any work starts.

    Args:
        path: the JSON file.
        inputs: ``{relative path: file}`` of the photos being colorized (``/``-separated keys).

    Returns:
        ``{relative path: hints}`` for the photos it lists.

    Raises:
        FileNotFoundError, ValueError: one line naming the file and the bad entry (not JSON, a photo
        not among the inputs, a point outside its photo, a bad colour, size or key).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--hints: no such file: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"--hints {path}: not a JSON file: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"--hints {path}: must be an object {{photo path: [hints]}}, got {type(data).__name__}")
    result = {}
    for photo, entries in data.items():
        if photo not in inputs:
            listed = ", ".join(sorted(inputs)[:5]) + (" ..." if len(inputs) > 5 else "")
            raise ValueError(f"--hints {path}: {photo!r} is not among the inputs ({listed})")
        try:
            size = photo_size(inputs[photo])
        except OSError as error:
            raise ValueError(f"--hints {path}: cannot read the size of {photo!r}: {error}") from None
        try:
            result[photo] = parse_hints(entries, photo, size)
        except ValueError as error:
            raise ValueError(f"--hints {path}: {error}") from None
    return result


def hints_to_json(hints: Mapping[str, Sequence[Hint]]) -> str:
    """The hints file of ``hints`` (``ab`` form): what :func:`read_hints_file` reads back."""
    data = {
        photo: [{"x": h.x, "y": h.y, "ab": [round(h.a, 3), round(h.b, 3)], "size": h.size} for h in entries]
        for photo, entries in hints.items()
    }
    return json.dumps(data, indent=2)


def _overlap(start: torch.Tensor, end: torch.Tensor, cells: int, scale: float) -> torch.Tensor:
    """``(K, cells)``: length of each interval ``[start, end)`` (original px) inside each working cell, in cells."""
    edges = torch.arange(cells + 1, dtype=torch.float64) / scale  # cell edges in original pixels
    lo = torch.maximum(start.view(-1, 1), edges[:-1].view(1, -1))
    hi = torch.minimum(end.view(-1, 1), edges[1:].view(1, -1))
    return (hi - lo).clamp(min=0) * scale


def hint_planes(hints: Sequence[Hint], height: int, width: int, size: tuple[int, int]) -> torch.Tensor:
    """Hints of an ``height x width`` photo at the working ``size`` ``(h, w)``: ``(1, 3, h, w)`` float32.

    Normalized a*b* (``/ AB_SCALE``) and the 0/1 mask, the layout of :mod:`colorize.models.hints`;
    see the module docstring for how a square's footprint maps to working pixels.
    """
    h, w = size
    planes = torch.zeros(1, 3, h, w)
    if not hints:
        return planes
    x = torch.tensor([hint.x for hint in hints], dtype=torch.float64)
    y = torch.tensor([hint.y for hint in hints], dtype=torch.float64)
    half = torch.tensor([hint.size for hint in hints], dtype=torch.float64) / 2
    ab = torch.tensor([[hint.a, hint.b] for hint in hints], dtype=torch.float64) / AB_SCALE
    # The square, clipped to the photo, and at least the original pixel (x, y) lies in, so it covers a working pixel.
    x0, x1 = (x - half).clamp(min=0), (x + half).clamp(max=width)
    y0, y1 = (y - half).clamp(min=0), (y + half).clamp(max=height)
    x0, x1 = torch.minimum(x0, x.floor()), torch.maximum(x1, x.floor() + 1)
    y0, y1 = torch.minimum(y0, y.floor()), torch.maximum(y1, y.floor() + 1)
    rows = _overlap(y0, y1, h, h / height)  # (K, h)
    cols = _overlap(x0, x1, w, w / width)  # (K, w)
    area = rows.unsqueeze(2) * cols.unsqueeze(1)  # (K, h, w)
    total = area.sum(0)
    mean = torch.einsum("khw,kc->chw", area, ab) / total.clamp(min=1e-12)
    mask = total > 0
    planes[0, :2] = torch.where(mask, mean, 0).float()
    planes[0, 2] = mask.float()
    return planes
