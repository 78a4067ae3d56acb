"""The hint sweep's pieces: fixed test hints, and the two hint-only baselines a hint model must beat.

- :func:`sweep_hints`: Zhang et al. 2017's test protocol (their ``test_sweep``): ``count`` square
  patches of side 6 px at 256 px (scaled to the image size: 3 px at 128), corners drawn from a
  normal around the centre, each painted with the patch's true mean a*b*. Each photo's draws come
  from a generator seeded by ``(seed, the photo's index in the test set)`` alone, so the hints are
  the same for every model, every row and every batch size; a count's hints are the first
  ``count`` of the photo's sequence, so 10 hints hold the 5 of the row before.
- :func:`nearest_hint_fill`: every pixel takes the a*b* of the nearest hinted pixel (Euclidean
  distance; ``scipy.ndimage.distance_transform_edt``): what a hint says with no knowledge of the
  photo at all.
- :func:`levin_colorize`: Levin, Lischinski and Weiss 2004, "Colorization using optimization",
  the classical method Zhang et al. cite: a*b* that vary little between neighbouring pixels of
  similar lightness, fixed at the hinted pixels. As their ``getColorExact.m``: for each unhinted
  pixel r, ``U(r) - sum_s w_rs U(s) = 0`` over its 3x3 neighbours s, with the affinity weights
  ``w_rs ∝ exp(-(Y(r) - Y(s))**2 / σ_r**2)`` normalized to sum to 1, where Y is the lightness in
  [0, 1] and ``σ_r**2`` is 0.6 times the variance of Y over the window (at least
  ``-min_s (Y(r) - Y(s))**2 / ln 0.01`` and 2e-6); hinted pixels keep their hint. The sparse
  system is solved exactly by sparse LU (``scipy.sparse.linalg.splu``, SuperLU), as their
  MATLAB backslash does, once per photo for both channels.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from colorize.data.hints import draw_boxes, paint_hints

__all__ = ["levin_colorize", "nearest_hint_fill", "sweep_patch_size", "sweep_hints"]

#: Zhang et al.'s test patch side at their 256 px.
ZHANG_TEST_PATCH = 6
ZHANG_TEST_SIZE = 256
#: Boxes drawn per photo whatever the count, so that a count's hints are the first of one fixed sequence.
SEQUENCE_LENGTH = 256


def sweep_patch_size(image_size: int) -> int:
    """Zhang's 6 px test patch scaled to ``image_size`` (3 px at 128), at least 1 px."""
    return max(1, round(ZHANG_TEST_PATCH * image_size / ZHANG_TEST_SIZE))


def sweep_hints(ab: torch.Tensor, index: torch.Tensor, count: int, seed: int = 2017, size: int | None = None):
    """Test hints ``(B, 3, H, W)``: ``count`` fixed patches per photo of ``ab`` ``(B, 2, H, W)`` (see the module).

    Args:
        ab: true normalized ab.
        index: ``(B,)`` each photo's index in the test set, which (with ``seed``) decides its hints.
        count: hints per photo; 0 gives all zeros.
        seed: the sweep's seed.
        size: patch side in pixels; default :func:`sweep_patch_size` of the image height.
    """
    b, _, h, w = ab.shape
    if count < 0:
        raise ValueError(f"hint count must be >= 0, got {count}")
    side = size or sweep_patch_size(h)
    rows = []
    for i in index.tolist():
        generator = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(i))
        # The photo's fixed sequence of boxes; the first `count` of them are its hints.
        length = max(count, SEQUENCE_LENGTH)
        boxes = draw_boxes(torch.tensor([length]), h, w, (side, side), "normal", generator)[0]
        boxes[count:, 3] = 0
        rows.append(boxes[: max(count, 1)])
    boxes = torch.stack(rows) if rows else torch.zeros((0, 1, 4), dtype=torch.long)
    return paint_hints(ab, boxes)


def _mask_and_ab(hints: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    if hints.ndim != 4 or hints.shape[1] != 3:
        raise ValueError(f"hints must have shape (B, 3, H, W), got {tuple(hints.shape)}")
    array = hints.detach().float().cpu().numpy()
    return array[:, 2] > 0.5, array[:, :2]


def nearest_hint_fill(hints: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` hints -> ``(B, 2, H, W)`` ab: each pixel the ab of its nearest hinted pixel; 0 without hints."""
    from scipy.ndimage import distance_transform_edt

    masks, values = _mask_and_ab(hints)
    out = np.zeros_like(values)
    for i, (mask, ab) in enumerate(zip(masks, values, strict=True)):
        if mask.any():
            # Indices of the nearest zero of ~mask, i.e. of the nearest hinted pixel.
            _, (rows, cols) = distance_transform_edt(~mask, return_indices=True)
            out[i] = ab[:, rows, cols]
    return torch.from_numpy(out).to(hints.device)


def levin_colorize(L: torch.Tensor, hints: torch.Tensor) -> torch.Tensor:
    """Levin et al. 2004 from ``L`` ``(B, 1, H, W)`` in [-1, 1] and ``hints`` ``(B, 3, H, W)`` -> ab ``(B, 2, H, W)``.

    Weights and solver: see the module docstring. Without hints the answer is 0 (gray).
    """
    if L.ndim != 4 or L.shape[1] != 1 or L.shape[0] != hints.shape[0] or L.shape[-2:] != hints.shape[-2:]:
        raise ValueError(f"L must have shape (B, 1, H, W) matching hints {tuple(hints.shape)}, got {tuple(L.shape)}")
    masks, values = _mask_and_ab(hints)
    Y = ((L.detach().float().cpu().numpy()[:, 0] + 1) / 2).astype(np.float64)
    out = np.zeros_like(values)
    for i in range(L.shape[0]):
        if masks[i].any():
            out[i] = _levin_one(Y[i], masks[i], values[i].astype(np.float64))
    return torch.from_numpy(out).to(hints.device)


def _levin_one(Y: np.ndarray, mask: np.ndarray, ab: np.ndarray) -> np.ndarray:
    from scipy.sparse import csc_matrix
    from scipy.sparse.linalg import splu

    h, w = Y.shape
    n = h * w
    padded = np.pad(Y, 1, constant_values=np.nan)
    offsets = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]
    neighbours = np.stack([padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy, dx in offsets])  # (8, H, W)
    valid = ~np.isnan(neighbours)
    window = np.concatenate([neighbours, Y[None]])
    variance = np.nanvar(window, axis=0)
    sigma2 = variance * 0.6
    diff2 = np.where(valid, (neighbours - Y[None]) ** 2, np.inf)
    min_diff2 = diff2.min(axis=0)
    sigma2 = np.maximum(sigma2, -min_diff2 / math.log(0.01))
    sigma2 = np.maximum(sigma2, 2e-6)
    weights = np.where(valid, np.exp(-np.where(valid, diff2, 0) / sigma2[None]), 0.0)
    weights /= weights.sum(axis=0, keepdims=True)

    index = np.arange(n).reshape(h, w)
    padded_index = np.pad(index, 1, constant_values=-1)
    cols = np.stack([padded_index[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy, dx in offsets])
    free = ~mask
    keep = valid & free[None]  # hinted pixels' rows are the identity
    rows_nb = np.broadcast_to(index, cols.shape)[keep]
    matrix = csc_matrix(
        (
            np.concatenate([-weights[keep], np.ones(n)]),
            (np.concatenate([rows_nb, index.ravel()]), np.concatenate([cols[keep], index.ravel()])),
        ),
        shape=(n, n),
    )
    rhs = np.where(mask[None], ab, 0.0).reshape(2, n).T
    solution = splu(matrix).solve(np.ascontiguousarray(rhs))
    return solution.T.reshape(2, h, w)
