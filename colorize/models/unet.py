"""The paper's UNet generator (its Fig. 2): a Ronneberger-style UNet from L to ab.

Not pix2pix's recursive ``UnetSkipConnectionBlock`` generator: the paper's notebook stacks
double-conv encoder levels with max-pooling and transposed-conv decoder levels, as in
Ronneberger et al. 2015, with BatchNorm added and without dropout (the paper found dropout's
noise gave little stochasticity and no gain).
"""

from __future__ import annotations

import torch
from torch import nn

from colorize.models.hints import (
    HINT_CHANNELS,
    check_hints,
    hint_contributions,
    hinted_output,
    new_hint_gate,
    new_hint_head,
    new_hint_levels,
    widen_on_load,
    with_hints,
    zero_hint_weights_,
)
from colorize.models.init import init_normal_

__all__ = ["UNet"]


def _double_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    # bias=False: BatchNorm's shift makes a conv bias redundant.
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class _Up(nn.Module):
    """Decoder level: 2x2 transposed conv (stride 2), concat the mirrored skip, double conv."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)
        self.conv = _double_conv(2 * out_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor, hint: torch.Tensor | None = None) -> torch.Tensor:
        """``hint``: the hint path's contribution at this level (:func:`~colorize.models.hints.hint_contributions`)."""
        x = torch.cat([self.up(x), skip], dim=1)
        if hint is None:
            return self.conv(x)
        return self.conv[1:](self.conv[0](x) + hint)


class UNet(nn.Module):
    """UNet generator: ``(B, in_channels, H, W)`` L in [-1, 1] -> ``(B, out_channels, H, W)`` ab in [-1, 1].

    ``depth`` encoder levels of two 3x3 conv-BN-ReLU then 2x2 max-pooling, with widths
    ``base_width * 2**i``; a ``base_width * 2**depth`` bottleneck (two conv-BN-ReLU); ``depth``
    decoder levels of a 2x2 stride-2 transposed conv, concatenation with the mirrored encoder
    activation, and two conv-BN-ReLU; then a 1x1 conv and tanh (ab is normalized to [-1, 1]).
    The defaults are the paper's (widths 64..512, 1024-wide bottleneck, 31,036,546 parameters).

    Weights are drawn by :func:`~colorize.models.init.init_normal_` (N(0, 0.02)), as in the paper.

    With ``hints=True`` (Zhang et al. 2017) the first convolution also reads hints ``(B, 3, H, W)``
    (normalized a*b* of hinted pixels, 0 elsewhere, and a 0/1 mask; :mod:`colorize.models.hints`),
    and the hints spread over the image enter every decoder level and the head (``hint_levels``,
    ``hint_head``) and are blended into the output (``hint_gate``), all through weights that start
    at zero: the fresh network computes what the hint-free one does, and a hint-free state dict
    loads into it.

    Attributes:
        stride: total downsampling factor, ``2**depth``; H and W must be multiples of it so that
            every skip connection lines up with its upsampled decoder map.
    """

    def __init__(
        self, in_channels: int = 1, out_channels: int = 2, base_width: int = 64, depth: int = 4, hints: bool = False
    ) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        if min(in_channels, out_channels, base_width) < 1:
            got = f"{in_channels}, {out_channels}, {base_width}"
            raise ValueError(f"in_channels, out_channels and base_width must be >= 1, got {got}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.takes_hints = hints
        self.stride: int = 2**depth
        widths = [base_width * 2**i for i in range(depth + 1)]

        self.down = nn.ModuleList()
        prev = in_channels + (HINT_CHANNELS if hints else 0)
        for w in widths[:-1]:
            self.down.append(_double_conv(prev, w))
            prev = w
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = _double_conv(widths[-2], widths[-1])
        self.up = nn.ModuleList(_Up(widths[i + 1], widths[i]) for i in reversed(range(depth)))
        self.head = nn.Conv2d(widths[0], out_channels, 1)
        init_normal_(self)
        if hints:
            self.hint_levels = new_hint_levels(list(reversed(widths[:-1])))
            self.hint_head = new_hint_head(out_channels)
            self.hint_gate = new_hint_gate(widths[0])
            zero_hint_weights_(self.down[0][0])
            widen_on_load(self, ["down.0.0.weight"])

    def forward(self, x: torch.Tensor, hints: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` L ``(B, in_channels, H, W)``; ``hints`` ``(B, 3, H, W)`` or None (none given; hint models only)."""
        _check_input(x, self.in_channels, self.stride, type(self).__name__)
        hints = check_hints(hints, x, type(self).__name__, self.takes_hints)
        lightness = x
        if self.takes_hints:
            x = with_hints(x, hints)
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        added, spread = [None] * (len(self.up) + 1), None
        if self.takes_hints:
            added, spread = hint_contributions(self.hint_levels, self.hint_head, hints, lightness)
        for block, skip, hint in zip(self.up, reversed(skips), added, strict=False):
            x = block(x, skip, hint)
        return hinted_output(self.head, x, added[-1], spread, getattr(self, "hint_gate", None))


def _check_input(x: torch.Tensor, channels: int, stride: int, name: str) -> None:
    if x.ndim != 4 or x.shape[1] != channels:
        raise ValueError(f"{name} expects input of shape (B, {channels}, H, W), got {tuple(x.shape)}")
    h, w = x.shape[-2:]
    if h % stride or w % stride:
        raise ValueError(f"{name} needs H and W to be multiples of {stride} (its stride), got {h}x{w}")
