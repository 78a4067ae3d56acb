"""Comparison figures in the paper's layout (Figs. 13-16), and sending them to the loggers.

One column per image; the first row is the grayscale input, then one row per set of
predictions (the model, optionally baselines), and last the ground truth. Built from
normalized Lab so the same function serves validation batches (logged images) and test
figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import torch
from torchvision.utils import make_grid

from colorize.color import normalized_lab_to_rgb, to_uint8_image

if TYPE_CHECKING:
    import lightning as L

__all__ = ["comparison_grid", "log_picture"]


def _check(x: torch.Tensor, channels: int, name: str) -> None:
    if x.ndim != 4 or x.shape[1] != channels:
        raise ValueError(f"{name} must have shape (B, {channels}, H, W), got {tuple(x.shape)}")


def comparison_grid(
    L: torch.Tensor,
    ab_pred: torch.Tensor | Sequence[torch.Tensor] | Mapping[str, torch.Tensor],
    ab_true: torch.Tensor | None = None,
    *,
    max_images: int = 8,
    padding: int = 2,
    pad_value: int = 255,
) -> torch.Tensor:
    """Grayscale / colorized / ground-truth rows, one column per image.

    Args:
        L: ``(B, 1, H, W)`` normalized lightness in [-1, 1].
        ab_pred: ``(B, 2, H, W)`` predicted normalized ab in [-1, 1]; or several such
            tensors (a sequence, or a mapping whose order gives the rows, e.g. model then
            baseline), each becoming one row.
        ab_true: ``(B, 2, H, W)`` ground-truth ab; ``None`` leaves out the last row (real
            photographs have none).
        max_images: at most this many columns (the first images of the batch).
        padding: pixels between and around the tiles.
        pad_value: the uint8 value of the padding (255: white, as in a printed figure).

    Returns:
        ``(3, R * (H + padding) + padding, N * (W + padding) + padding)`` uint8 sRGB on the
        CPU, ``R`` rows and ``N = min(B, max_images)`` columns. The first row is exactly
        gray (R = G = B).
    """
    _check(L, 1, "L")
    preds = list(ab_pred.values()) if isinstance(ab_pred, Mapping) else ab_pred
    preds = [preds] if isinstance(preds, torch.Tensor) else list(preds)
    if not preds:
        raise ValueError("ab_pred must hold at least one prediction")
    for i, ab in enumerate([*preds, *([ab_true] if ab_true is not None else [])]):
        _check(ab, 2, f"ab row {i}")
        if ab.shape[0] != L.shape[0] or ab.shape[-2:] != L.shape[-2:]:
            raise ValueError(f"ab row {i} has shape {tuple(ab.shape)}, which does not match L {tuple(L.shape)}")
    if max_images < 1:
        raise ValueError(f"max_images must be >= 1, got {max_images}")

    n = min(L.shape[0], max_images)
    L = L[:n].detach().float()
    # Averaging the channels of the a = b = 0 colour: the matrices leave ~1e-4 of tint otherwise.
    gray = normalized_lab_to_rgb(L, torch.zeros_like(L).expand(-1, 2, -1, -1)).mean(dim=1, keepdim=True)
    rows = [gray.expand(-1, 3, -1, -1)]
    rows += [normalized_lab_to_rgb(L, ab[:n].detach().float()) for ab in preds]
    if ab_true is not None:
        rows.append(normalized_lab_to_rgb(L, ab_true[:n].detach().float()))
    tiles = to_uint8_image(torch.cat(rows)).cpu()
    return make_grid(tiles, nrow=n, padding=padding, pad_value=pad_value)


def log_picture(trainer: L.Trainer, key: str, picture: torch.Tensor, step: int) -> None:
    """Send a uint8 ``(3, H, W)`` picture to every logger that takes images."""
    for logger in trainer.loggers:
        if hasattr(logger, "log_image"):  # W&B
            logger.log_image(key=key, images=[picture.permute(1, 2, 0).cpu().numpy()], step=step)
        elif hasattr(getattr(logger, "experiment", None), "add_image"):  # TensorBoard
            logger.experiment.add_image(key, picture, global_step=step)
