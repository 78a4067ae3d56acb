"""Colorize real photographs at their own resolution.

Why not just feed the photo to the generator: it was trained at one resolution (256 px
in the paper) and its encoder needs sides that are multiples of its ``stride``. A
phone photo is neither. So only the *colour* is predicted at the working resolution:

1. L of the full-resolution input (colour inputs are reduced to their lightness);
2. L resized (antialiased) to :func:`working_size`: the shorter side near the training
   size, both sides multiples of the stride, the aspect ratio kept;
3. the generator predicts ab there;
4. ab is upsampled (bilinear) to the input's H x W and joined with the *original*
   full-resolution L.

Chroma is smooth and the eye reads detail from lightness, so step 4 keeps every edge and
texture of the input: the output's L* equals the input's except where the predicted colour
falls outside the sRGB gamut at that lightness and is clipped, and for uint8 rounding
(at most ~0.3 L* units when no channel saturates).

:func:`colorize_images` does this for many photos at once: photos that share a working size
share forward passes (step 3), which run under bf16 autocast by default on the CPU and
CUDA; steps 1, 2 and 4 stay per photo and in float32, and run strip by strip
(:mod:`colorize.inference.strips`), so memory does not grow with the photo's size.
:func:`colorize_photos` returns each result as a :class:`ColorizedPhoto` whose colour is
joined when it is read (``colorize predict`` streams it to the file); a uint16 input (a
16-bit scan) gives 16-bit levels. :func:`colorize_image` is the one-photo case.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from contextlib import nullcontext

import numpy as np
import torch
from torch import nn

from colorize.color import to_uint8_image
from colorize.inference.hints import Hint, hint_planes
from colorize.inference.strips import (
    join_strip,
    lightness_on,
    max_level,
    upsample_ab_rows,
    working_lightness,
)
from colorize.inference.strips import (
    strip_rows as default_strip_rows,
)
from colorize.models.bf16 import cpu_has_native_bf16
from colorize.models.hints import takes_hints

__all__ = [
    "CPU_PASS_PIXELS",
    "ColorizedPhoto",
    "bf16_is_used",
    "colorize_image",
    "colorize_images",
    "colorize_photos",
    "working_size",
]


def working_size(height: int, width: int, target: int, stride: int) -> tuple[int, int]:
    """The size ``(h, w)`` the generator runs at for an ``height x width`` photo.

    The shorter side is scaled to about ``target`` (the training resolution), the longer
    one by the same factor, and each side is rounded to the nearest positive multiple of
    ``stride``, so the aspect ratio is kept up to at most ``stride / 2`` pixels per side
    and no side is ever 0.

    Raises:
        ValueError: if any argument is not a positive integer.
    """
    for name, value in (("height", height), ("width", width), ("target", target), ("stride", stride)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    scale = target / min(height, width)

    def snap(side: int) -> int:
        # floor(x + 0.5), not round(): Python's round() sends halves to the even multiple.
        return max(stride, int(side * scale / stride + 0.5) * stride)

    return snap(height), snap(width)


def _device_and_dtype(module: nn.Module) -> tuple[torch.device, torch.dtype]:
    """Where and in which float type the module computes; CPU float32 if it holds no tensors."""
    for tensor in itertools.chain(module.parameters(), module.buffers()):
        if tensor.is_floating_point():
            return tensor.device, tensor.dtype
    return torch.device("cpu"), torch.float32


def bf16_is_used(generator: nn.Module, enabled: bool = True) -> bool:
    """Whether :func:`colorize_images` runs ``generator`` under bf16 autocast.

    Only a float32 generator on a CPU with native bf16 (AVX-512 BF16, AMX:
    :func:`~colorize.models.bf16.cpu_has_native_bf16`; elsewhere bf16 is emulated and ~7x slower)
    or on a CUDA device with bf16 support: autocast leaves float64 alone, and other backends (MPS,
    ...) differ in which ops they cover.
    """
    device, dtype = _device_and_dtype(generator)
    if not enabled or dtype != torch.float32:
        return False
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and cpu_has_native_bf16()


#: Working-size pixels per generator pass on the CPU (about one 256 x 384 photo, or five at 128 x 192).
#: Measured on a 2-core AVX-512 EPYC, one thread, UNet and ResNet18 UNet: stacking up to four 128 x 192
#: photos saved 0-30 % per photo, but eight 256 x 384 photos in one pass ran 1.3-2x slower per photo than
#: one at a time, in float32 and bf16 alike: the activations (64 channels x 8 x 98k pixels, 200 MB per
#: layer in float32) no longer stay in cache. A GPU needs large batches to keep busy: no split there.
CPU_PASS_PIXELS = 2**17


class ColorizedPhoto:
    """A colorized photo whose full-resolution colour is computed when it is read, strip by strip.

    Holds the input photo and the generator's working-size ab, nothing at full resolution in
    float: :meth:`strips` joins the input's L with the upsampled ab one band of rows at a time,
    so a writer can stream a 100-megapixel result to disk (:mod:`colorize.inference.image_files`)
    and :meth:`to_uint8` fills one uint8 tensor without float copies of the whole photo.

    Args:
        source: the input, ``(1 or 3, H, W)`` uint8, uint16 or float in [0, 1].
        ab: ``(1, 2, h, w)`` float32 normalized ab at the working size, on the device the
            full-resolution work runs on.
        rows: rows per strip (default: about 2 MP per strip).
        dpi: the input's ``(x, y)`` dots per inch, for the file written (None: not stated).
        icc_profile: the ICC profile the file written is tagged with (None: none).
    """

    def __init__(
        self,
        source: torch.Tensor,
        ab: torch.Tensor,
        *,
        rows: int | None = None,
        dpi: tuple[float, float] | None = None,
        icc_profile: bytes | None = None,
    ) -> None:
        if ab.ndim != 4 or ab.shape[:2] != (1, 2):
            raise ValueError(f"ab must have shape (1, 2, h, w), got {tuple(ab.shape)}")
        self.source = source
        self.ab = ab.float()
        self.rows = rows or default_strip_rows(source.shape[-1])
        self.dpi = dpi
        self.icc_profile = icc_profile

    @property
    def height(self) -> int:
        return int(self.source.shape[-2])

    @property
    def width(self) -> int:
        return int(self.source.shape[-1])

    @property
    def bits(self) -> int:
        """Bits per channel of the output: 16 for a 16-bit input (its L* kept at that precision), else 8."""
        return 16 if self.source.dtype == torch.uint16 else 8

    @property
    def device(self) -> torch.device:
        return self.ab.device

    def strips(self, rows: int | None = None) -> Iterator[tuple[int, torch.Tensor]]:
        """``(top, rgb)`` for each band of ``rows`` rows, top to bottom: ``rgb`` is ``(3, h, W)`` float32 in [0, 1]."""
        rows = rows or self.rows
        for top in range(0, self.height, rows):
            bottom = min(top + rows, self.height)
            L = lightness_on(self.source[:, top:bottom], self.device)
            ab = upsample_ab_rows(self.ab, top, bottom, self.height, self.width)
            yield top, join_strip(L, ab)[0]

    def levels(self, rows: int | None = None) -> Iterator[np.ndarray]:
        """Each band as ``(h, W, 3)`` integer levels on the CPU: uint8, or uint16 if :attr:`bits` is 16."""
        for _, rgb in self.strips(rows):
            if self.bits == 16:
                # On the CPU: PyTorch's uint16 has few kernels elsewhere.
                band = (rgb.clamp(0, 1) * 65535.0).round().cpu().to(torch.uint16)
            else:
                band = to_uint8_image(rgb)
            yield band.permute(1, 2, 0).cpu().numpy()

    def to_uint8(self) -> torch.Tensor:
        """The whole photo as ``(3, H, W)`` uint8 sRGB on :attr:`device` (8 bits whatever the input's depth)."""
        out = torch.empty((3, self.height, self.width), dtype=torch.uint8, device=self.device)
        for top, rgb in self.strips():
            out[:, top : top + rgb.shape[1]] = to_uint8_image(rgb)
        return out


def colorize_photos(
    generator: nn.Module,
    images: Sequence[torch.Tensor],
    *,
    target_size: int,
    stride: int | None = None,
    bf16: bool = True,
    max_pass_pixels: int | None = None,
    strip_rows: int | None = None,
    hints: Sequence[Sequence[Hint] | None] | None = None,
) -> list[ColorizedPhoto]:
    """Colorize photographs of any sizes, keeping each one's resolution, lightness and bit depth.

    Photos whose :func:`working_size` is the same go through the generator together, stacked
    (up to ``max_pass_pixels`` per pass): most photos of a folder share one of a few aspect
    ratios, so a few larger passes replace one per photo. The generator runs in eval mode,
    where BatchNorm uses its running statistics, so a photo's colour does not depend on its
    batch mates (up to the float rounding of differently blocked convolutions). Only the small
    working-size L tensors are stacked; the full-resolution steps (Lab conversion, resize,
    upsampling, the join) run photo by photo and strip by strip (:mod:`colorize.inference.strips`),
    so the extra memory is one strip's float32 work whatever the photo's size. The join runs
    when the result is read (:meth:`ColorizedPhoto.strips`): a writer can stream it to a file.

    Args:
        generator: maps ``(B, 1, h, w)`` L in [-1, 1] to ``(B, 2, h, w)`` ab in [-1, 1];
            run in eval mode without gradients on its own device and dtype (its training
            mode is restored afterwards).
        images: each ``(3, H, W)`` sRGB or ``(1, H, W)`` gray, uint8 in [0, 255], uint16 in
            [0, 65535] (a 16-bit scan) or float in [0, 1], any H and W (they may differ), on any
            device (each strip is moved to the generator's). Colour inputs are reduced to their L
            (their colour is never shown to the generator).
        target_size: the resolution the generator was trained at; the shorter side of the
            working size is about this many pixels.
        stride: the generator's size multiple; defaults to ``generator.stride`` (1 if the
            generator has none).
        bf16: run the generator's forward pass under bf16 autocast where
            :func:`bf16_is_used` says so (float32 weights on the CPU or CUDA). On the sample
            photos with three trained generators it moved the output by 0.02 L* and 0.1
            CIEDE2000 on average (2.4 at the worst pixel; about 1 is a just-noticeable
            difference), and colorized 1.2-1.8x more photos per second on a CPU with AVX-512
            bf16 (``benchmarks/predict.py``); hardware without bf16 units may gain less.
            The Lab conversions, resizes and the join always run in float32: lightness comes
            from the input, never through bf16. False: the float32 path, bit for bit.
        max_pass_pixels: the most working-size pixels (batch x h x w) one generator pass may
            take; larger groups are split, and a photo larger than this goes alone. None: on
            the CPU :data:`CPU_PASS_PIXELS`, elsewhere no limit.
        strip_rows: rows per full-resolution strip; None: about :data:`~colorize.inference.strips.STRIP_PIXELS`
            pixels per strip. The result does not depend on it (up to float rounding, far below a level).
        hints: per photo, user colour hints in its own pixels (:class:`colorize.inference.hints.Hint`)
            or None; mapped to the working size by :func:`colorize.inference.hints.hint_planes`.
            Only for a generator that takes hints (``hints: true``).

    Returns:
        One :class:`ColorizedPhoto` per input, in input order.

    Raises:
        ValueError: if an image is not ``(1 or 3, H, W)``, ``max_pass_pixels`` is not positive,
            or the generator's output is not ``(B, 2, h, w)``.
    """
    for index, image in enumerate(images):
        if image.ndim != 3 or image.shape[0] not in (1, 3):
            raise ValueError(f"image {index} must have shape (3, H, W) or (1, H, W), got {tuple(image.shape)}")
        max_level(image.dtype)
    if stride is None:
        stride = int(getattr(generator, "stride", 1))
    device, dtype = _device_and_dtype(generator)
    if max_pass_pixels is None:
        max_pass_pixels = CPU_PASS_PIXELS if device.type == "cpu" else None
    elif max_pass_pixels < 1:
        raise ValueError(f"max_pass_pixels must be positive (or None), got {max_pass_pixels}")
    _check_hints(generator, images, hints)
    # nullcontext, not autocast(enabled=False): some device types warn on any autocast.
    autocast = torch.autocast(device.type, torch.bfloat16) if bf16_is_used(generator, bf16) else nullcontext()

    groups: dict[tuple[int, int], list[int]] = {}
    for index, image in enumerate(images):
        groups.setdefault(working_size(*image.shape[-2:], target_size, stride), []).append(index)
    passes = []
    for (h, w), members in groups.items():
        per_pass = len(members) if max_pass_pixels is None else max(1, max_pass_pixels // (h * w))
        passes += [((h, w), members[k : k + per_pass]) for k in range(0, len(members), per_pass)]

    outputs: list[ColorizedPhoto | None] = [None] * len(images)
    was_training = generator.training
    generator.eval()
    try:
        for size, members in passes:
            # Antialiasing matters when shrinking a large photo: plain bilinear would alias fine texture.
            # Strip by strip (colorize.inference.strips): the whole photo is never a float copy.
            L_small = torch.cat([working_lightness(images[i], size, rows=strip_rows, device=device) for i in members])
            hint_small = _pass_hints(hints, members, images, size)
            with torch.inference_mode(), autocast:
                if hint_small is None:
                    ab_small = generator(L_small.to(dtype))
                else:
                    ab_small = generator(L_small.to(dtype), hint_small.to(device, dtype))
            if ab_small.shape != (len(members), 2, *size):
                raise ValueError(
                    f"generator must return ({len(members)}, 2, {size[0]}, {size[1]}) ab, got {tuple(ab_small.shape)}"
                )
            for i, ab in zip(members, ab_small.float().split(1), strict=True):
                outputs[i] = ColorizedPhoto(images[i], ab, rows=strip_rows)
    finally:
        generator.train(was_training)
    return outputs


def colorize_images(
    generator: nn.Module,
    images: Sequence[torch.Tensor],
    *,
    target_size: int,
    stride: int | None = None,
    bf16: bool = True,
    max_pass_pixels: int | None = None,
    hints: Sequence[Sequence[Hint] | None] | None = None,
) -> list[torch.Tensor]:
    """Colorize photographs of any sizes: :func:`colorize_photos`, each result as one uint8 tensor.

    Returns:
        One ``(3, H, W)`` uint8 sRGB image per input, in input order, on the generator's
        device, whose L* equals the input's up to uint8 rounding except at out-of-gamut
        (clipped) pixels. The arguments and errors are :func:`colorize_photos`'s.
    """
    photos = colorize_photos(
        generator,
        images,
        target_size=target_size,
        stride=stride,
        bf16=bf16,
        max_pass_pixels=max_pass_pixels,
        hints=hints,
    )
    return [photo.to_uint8() for photo in photos]


def _check_hints(generator: nn.Module, images: Sequence[torch.Tensor], hints) -> None:
    if hints is None:
        return
    if len(hints) != len(images):
        raise ValueError(f"hints must hold one entry (a list or None) per image: {len(hints)} for {len(images)} images")
    if any(hints) and not takes_hints(generator):
        raise ValueError("this model was trained without hints (its generator has no hint input)")


def _pass_hints(hints, members: list[int], images: Sequence[torch.Tensor], size: tuple[int, int]):
    """The hint planes of one pass's photos at the working ``size``; None when none of them has hints."""
    if hints is None or not any(hints[i] for i in members):
        return None
    return torch.cat([hint_planes(hints[i] or [], *images[i].shape[-2:], size) for i in members])


def colorize_image(
    generator: nn.Module,
    image: torch.Tensor,
    *,
    target_size: int,
    stride: int | None = None,
    bf16: bool = True,
    hints: Sequence[Hint] | None = None,
) -> torch.Tensor:
    """Colorize one photograph: :func:`colorize_images` of one photo (the arguments are the same).

    Returns:
        ``(3, H, W)`` uint8 sRGB on the generator's device, whose L* equals the input's up
        to uint8 rounding except at out-of-gamut (clipped) pixels.

    Raises:
        ValueError: if ``image`` is not ``(1 or 3, H, W)``.
    """
    per_image = None if hints is None else [hints]
    return colorize_images(generator, [image], target_size=target_size, stride=stride, bf16=bf16, hints=per_image)[0]
