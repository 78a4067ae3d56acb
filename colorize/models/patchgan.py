"""pix2pix's PatchGAN discriminator (the paper's Fig. 3) and the receptive-field arithmetic behind "70x70".

A PatchGAN scores every overlapping patch of the conditional image ``cat(L, ab)`` as real or
fake instead of the whole image: the L1 term already gets low frequencies right, so the
adversarial term only needs to judge local texture and color, with fewer parameters.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from colorize.models.init import init_normal_

__all__ = ["PatchGAN", "receptive_field"]

_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)


def _square(value: int | tuple[int, ...], what: str, layer: nn.Module) -> int:
    if isinstance(value, int):
        return value
    if len(set(value)) != 1:
        raise ValueError(f"receptive_field needs square {what}s, got {value} in {layer}")
    return value[0]


def receptive_field(module_or_layers: nn.Module | Iterable[nn.Module]) -> int:
    """Side, in input pixels, of the patch that one output element sees.

    Walks the convolutions and poolings in order (``module.modules()`` for a module) and grows
    the field by ``dilation * (kernel - 1) * jump``, where ``jump`` is the product of the strides
    so far. Valid for a plain chain of layers (a ``Sequential`` such as :class:`PatchGAN`), not
    for networks with branches or skips. Padding does not change the field's size.

    Raises:
        ValueError: if a layer has a non-square kernel, stride or dilation.
    """
    layers = module_or_layers.modules() if isinstance(module_or_layers, nn.Module) else module_or_layers
    field, jump = 1, 1
    for layer in layers:
        if isinstance(layer, nn.modules.conv._ConvNd):
            kernel, stride, dilation = layer.kernel_size, layer.stride, layer.dilation
        elif isinstance(layer, _POOLS):
            kernel, stride = layer.kernel_size, layer.stride or layer.kernel_size
            dilation = getattr(layer, "dilation", 1)
        else:
            continue
        k = _square(kernel, "kernel", layer)
        s = _square(stride, "stride", layer)
        d = _square(dilation, "dilation", layer)
        field += d * (k - 1) * jump
        jump *= s
    return field


class PatchGAN(nn.Module):
    """Conditional PatchGAN: ``(B, in_channels, H, W)`` = ``cat(L, ab)`` in [-1, 1] -> logits ``(B, 1, H', W')``.

    4x4 convs with padding 1 (pix2pix's ``NLayerDiscriminator``): ``C{w}`` stride 2 without norm,
    then ``num_layers - 1`` more stride-2 convs doubling the width (capped at ``8 * base_width``),
    one stride-1 conv doubling again, and a stride-1 conv to one channel; BatchNorm and
    LeakyReLU(0.2) in between. Defaults give C64-C128-C256-C512-C1: a 70x70 receptive field
    and a 30x30 map for a 256x256 input (2,765,633 parameters).

    The output is raw logits, no sigmoid: the loss applies ``BCEWithLogitsLoss``, which is
    numerically stable where sigmoid + BCELoss saturates. Weights are drawn by
    :func:`~colorize.models.init.init_normal_` (N(0, 0.02)), as in the paper.

    Attributes:
        receptive_field: side of the input patch each output logit judges (70 by default).
        min_size: smallest H or W that yields a non-empty output map.
    """

    def __init__(self, in_channels: int = 3, base_width: int = 64, num_layers: int = 3) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if min(in_channels, base_width) < 1:
            raise ValueError(f"in_channels and base_width must be >= 1, got {in_channels}, {base_width}")
        self.in_channels = in_channels
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, base_width, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        width = base_width
        for n in range(1, num_layers + 1):
            prev, width = width, base_width * min(2**n, 8)
            stride = 2 if n < num_layers else 1
            # bias=False: BatchNorm's shift makes a conv bias redundant.
            layers += [
                nn.Conv2d(prev, width, 4, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.LeakyReLU(0.2, inplace=True),
            ]
        layers.append(nn.Conv2d(width, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)
        self.receptive_field: int = receptive_field(self.model)
        self.min_size: int = self._min_size()
        init_normal_(self)

    def _min_size(self) -> int:
        size = 1
        while self.output_size(size) < 1:
            size += 1
        return size

    def output_size(self, size: int) -> int:
        """Side of the logit map for an input side of ``size`` pixels (``30`` for ``256``)."""
        for m in self.model:
            if isinstance(m, nn.Conv2d):
                size = (size + 2 * m.padding[0] - m.kernel_size[0]) // m.stride[0] + 1
        return size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"PatchGAN expects cat(L, ab) of shape (B, {self.in_channels}, H, W), got {tuple(x.shape)}"
            )
        h, w = x.shape[-2:]
        if min(h, w) < self.min_size:
            raise ValueError(f"PatchGAN needs H and W >= {self.min_size} for a non-empty output, got {h}x{w}")
        return self.model(x)
