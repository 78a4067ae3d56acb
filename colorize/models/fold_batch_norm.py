"""Batch norms folded into the convolutions before them, for inference.

In eval mode a BatchNorm is a fixed per-channel scale and shift, which the convolution before it
can absorb (``w' = w·γ/σ``, ``b' = (b - μ)·γ/σ + β``): the same function with one pass over each
feature map fewer. For video, where the generator runs on every frame and the other stages
(decoding, flow, encoding) share the same two CPU cores, that pass is worth saving.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

__all__ = ["fold_batch_norms"]


def fold_batch_norms(network: nn.Module) -> nn.Module:
    """An eval-mode copy of ``network`` with each ``Conv2d`` directly followed by a ``BatchNorm2d`` in an
    ``nn.Sequential`` fused into one convolution (the norm becomes ``nn.Identity``); ``network`` is untouched.

    The copy computes the same as ``network.eval()`` up to float rounding. It is for inference only,
    and a hint generator's copy takes no hints (it refuses them): its hint path adds hints between a
    convolution and its norm (:mod:`colorize.models.hints`), which a folded norm no longer scales.
    """
    folded = copy.deepcopy(network).eval()
    for module in folded.modules():
        if not isinstance(module, nn.Sequential):
            continue
        names = list(module._modules)
        for first, second in zip(names, names[1:], strict=False):
            conv, norm = module._modules[first], module._modules[second]
            if (
                type(conv) is nn.Conv2d
                and type(norm) is nn.BatchNorm2d
                and norm.track_running_stats
                and norm.running_mean is not None
            ):
                module._modules[first] = fuse_conv_bn_eval(conv, norm)
                module._modules[second] = nn.Identity()
    return _WithoutHints(folded) if getattr(network, "takes_hints", False) else folded


class _WithoutHints(nn.Module):
    """A folded hint generator, called without hints only (it still reads its all-zero "no hints")."""

    takes_hints = False

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network
        self.stride = getattr(network, "stride", 1)

    def forward(self, L: torch.Tensor, hints: torch.Tensor | None = None) -> torch.Tensor:
        if hints is not None:
            raise ValueError("a generator with folded batch norms colours without hints (fold_batch_norms)")
        return self.network(L)
