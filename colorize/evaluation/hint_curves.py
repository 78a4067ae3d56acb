"""The hint sweep's picture: each metric against the number of hints, one line per method.

Drawn with Pillow (already a dependency) rather than a plotting library: four small panels of
lines and labels are all it takes, and the picture goes to the run folder and to W&B as the
other test pictures do (:func:`colorize.evaluation.figures.log_picture`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from colorize.results import ResultsTable

__all__ = ["hint_curves"]

PANELS = (("pixel_acc@2%", "pixel acc 2 % (%)", 100.0), ("pixel_acc@5%", "pixel acc 5 % (%)", 100.0),
          ("psnr", "PSNR (dB)", 1.0), ("lpips", "LPIPS (lower is better)", 1.0))  # fmt: skip
COLOURS = {"model": (200, 40, 40), "nearest": (40, 90, 200), "spread": (150, 150, 150), "levin": (30, 150, 60)}
PANEL_W, PANEL_H, MARGIN = 360, 240, 44


def _series(table: ResultsTable, method: str, counts: Sequence[int], gray_at_zero: bool, key: str):
    from colorize.evaluation.report import ALL_GRAY, hint_row

    values = []
    for count in counts:
        if count == 0:
            row = table.rows.get(ALL_GRAY if gray_at_zero else method)
        else:
            row = table.rows.get(hint_row(method, count))
        values.append(None if row is None else row.get(key))
    return values


def hint_curves(table: ResultsTable, model: str | None, counts: Sequence[int]) -> torch.Tensor:
    """A uint8 ``(3, H, W)`` picture of the sweep's rows of ``table``: metric against hint count.

    ``model`` names the model's row (None: a hint-free model, only the fills are drawn). The
    x axis spaces the counts evenly (they grow roughly geometrically). The fills' 0-hint point is
    the all-gray row, which is what both are without hints.
    """
    from colorize.evaluation.report import LEVIN, NEAREST, SPREAD

    counts = sorted(counts)
    methods = [(NEAREST, "nearest", True), (SPREAD, "spread", True), (LEVIN, "levin", True)]
    if model is not None:
        methods.insert(0, (model, "model", False))
    panels = [p for p in PANELS if any(p[0] in row for row in table.rows.values())]
    image = Image.new("RGB", (PANEL_W * len(panels), PANEL_H + 28), "white")
    draw = ImageDraw.Draw(image)
    for p, (key, title, scale) in enumerate(panels):
        x0 = p * PANEL_W
        series = {colour: _series(table, name, counts, gray, key) for name, colour, gray in methods}
        known = [v * scale for vs in series.values() for v in vs if v is not None]
        lo, hi = (min(known), max(known)) if known else (0.0, 1.0)
        lo, hi = (lo - 1, hi + 1) if hi - lo < 1e-9 else (lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
        left, right, top, bottom = x0 + MARGIN, x0 + PANEL_W - 12, 22, PANEL_H - 24

        def at(i: int, value: float, lo=lo, hi=hi, left=left, right=right, top=top, bottom=bottom):
            x = left + (right - left) * (i / max(len(counts) - 1, 1))
            return x, bottom - (bottom - top) * (value - lo) / (hi - lo)

        draw.rectangle([left, top, right, bottom], outline=(120, 120, 120))
        draw.text((left, 4), title, fill="black")
        for value in np.linspace(lo, hi, 4):
            y = at(0, value)[1]
            draw.text((x0 + 2, y - 5), f"{value:.1f}" if scale > 1 or hi - lo > 2 else f"{value:.3f}", fill="black")
        for i, count in enumerate(counts):
            x = at(i, lo)[0]
            draw.text((x - 6, bottom + 4), str(count), fill="black")
        for colour, values in series.items():
            points = [at(i, v * scale) for i, v in enumerate(values) if v is not None]
            if len(points) > 1:
                draw.line(points, fill=COLOURS[colour], width=2)
            for x, y in points:
                draw.ellipse([x - 2.5, y - 2.5, x + 2.5, y + 2.5], fill=COLOURS[colour])
    legend_y, x = PANEL_H + 6, 8
    for name, colour, _ in methods:
        draw.line([x, legend_y + 6, x + 20, legend_y + 6], fill=COLOURS[colour], width=3)
        draw.text((x + 26, legend_y), name, fill="black")
        x += 40 + 7 * len(name)
    draw.text((x + 10, legend_y), "x: hints per photo", fill=(90, 90, 90))
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).contiguous()
