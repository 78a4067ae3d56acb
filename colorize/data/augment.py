"""Online augmentation of whole batches on the device: the paper's flips, and random resized crops.

Workers hand over uint8 photos; these run after the batch is transferred, where one batched
call costs next to nothing, instead of per image in the CPU workers.
"""

from __future__ import annotations

import math

import torch

__all__ = ["random_flips", "random_resized_crops"]


def random_flips(batch: torch.Tensor, generator: torch.Generator | None = None, p: float = 0.5) -> torch.Tensor:
    """Flip each image left-right with probability ``p`` and, independently, upside-down with ``p``.

    The paper's online augmentation: upside-down people taught its UNet to color bent arms.

    Args:
        batch: ``(B, C, H, W)`` images of any dtype, on any device.
        generator: for reproducible draws; may live on the CPU while ``batch`` is on a GPU.
        p: probability of each flip.

    Returns:
        A new ``(B, C, H, W)`` tensor, same dtype and device.
    """
    if batch.ndim != 4:
        raise ValueError(f"batch must have shape (B, C, H, W), got {tuple(batch.shape)}")
    device = generator.device if generator is not None else batch.device
    draws = torch.rand((2, batch.shape[0]), generator=generator, device=device).to(batch.device) < p
    horizontal, vertical = draws[0].view(-1, 1, 1, 1), draws[1].view(-1, 1, 1, 1)
    batch = torch.where(horizontal, batch.flip(-1), batch)
    return torch.where(vertical, batch.flip(-2), batch)


def random_resized_crops(
    batch: torch.Tensor,
    size: int,
    scale: tuple[float, float] = (0.3, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One random crop per image, resized to ``size`` x ``size``: Inception's augmentation, batched on the device.

    Why: a photo loaded larger than the training size then yields a different view every epoch
    (a 3000-px photo gives many training views, not one squashed square), and objects appear at
    many scales. Each crop covers a share of the image area drawn uniformly from ``scale`` with an
    aspect ratio drawn log-uniformly from ``ratio`` (clamped to the image). All crops are taken
    and resized in one ``torchvision.ops.roi_align`` call (bilinear, 2x2 samples per output pixel,
    with enough samples per output pixel to average rather than alias when shrinking).

    Args:
        batch: ``(B, C, H, W)`` images, uint8 or float, on any device.
        size: side of the square output.
        scale: range of the crop's share of the image area, within (0, 1].
        ratio: range of the crop's width / height.
        generator: for reproducible draws; may live on the CPU while ``batch`` is on a GPU.

    Returns:
        ``(B, C, size, size)``, same dtype and device as ``batch`` (uint8 is rounded back).
    """
    from torchvision.ops import roi_align

    if batch.ndim != 4:
        raise ValueError(f"batch must have shape (B, C, H, W), got {tuple(batch.shape)}")
    if not 0 < scale[0] <= scale[1] <= 1:
        raise ValueError(f"crop scale must satisfy 0 < min <= max <= 1, got {scale}")
    b, _, h, w = batch.shape
    device = generator.device if generator is not None else batch.device
    u = torch.rand((4, b), generator=generator, device=device, dtype=torch.float64).to(batch.device)
    area = (scale[0] + (scale[1] - scale[0]) * u[0]) * h * w
    log_lo, log_hi = torch.log(torch.tensor(ratio, dtype=torch.float64, device=batch.device))
    aspect = torch.exp(log_lo + (log_hi - log_lo) * u[1])
    crop_w = torch.sqrt(area * aspect).clamp(1, w)
    crop_h = torch.sqrt(area / aspect).clamp(1, h)
    x0 = (w - crop_w) * u[2]
    y0 = (h - crop_h) * u[3]
    index = torch.arange(b, device=batch.device, dtype=torch.float64)
    boxes = torch.stack([index, x0, y0, x0 + crop_w, y0 + crop_h], dim=1)
    pixels = batch.float()
    # Enough bilinear samples per output pixel to average over the largest possible crop (no aliasing
    # when shrinking), and exactly one when nothing shrinks, so a full-size crop returns the image.
    sampling = max(1, math.ceil(max(h, w) / size))
    crops = roi_align(
        pixels, boxes.to(pixels.dtype), output_size=size, spatial_scale=1.0, sampling_ratio=sampling, aligned=True
    )
    if batch.dtype == torch.uint8:
        return crops.round().clamp(0, 255).to(torch.uint8)
    return crops.to(batch.dtype)
