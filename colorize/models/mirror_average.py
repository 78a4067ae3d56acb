"""Colour a photo and its mirror image, and average the two: the cheapest ensemble there is.

A generator's colour for a region depends on context it reads left to right through padded
convolutions; the mirrored photo gives a second, slightly different guess whose errors are
partly independent of the first. Averaging them (test-time augmentation, as segmentation
models are routinely evaluated) makes a confident colour stay and an unsure one fade towards
gray, which is what the paper's tight 2 % threshold rewards; the colorfulness gap (ΔCF) is
reported beside it so that the fading shows. Horizontal mirrors only: an upside-down photo
(sky at the bottom) is not a photo the generator should be asked about.
"""

from __future__ import annotations

import torch
from torch import nn


class MirrorAverage(nn.Module):
    """``(B, 1, H, W)`` L -> the mean of ``generator(L)`` and the mirrored ``generator(mirrored L)``.

    Both run as one batch of ``2B`` (the generator is in eval mode, so batch norm uses its
    running statistics and batching changes nothing). The wrapped generator's ``stride`` is
    passed through; the wrapper has no weights of its own and is never saved. Hints
    (:mod:`colorize.models.hints`) are mirrored with the photo: a hint stays on its pixel.
    """

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator
        # Callers that switch the wrapper to eval and back restore its mode onto the generator too:
        # start in the generator's own mode so that it is left as it was.
        self.train(generator.training)

    @property
    def stride(self) -> int:
        return int(getattr(self.generator, "stride", 1))

    @property
    def takes_hints(self) -> bool:
        return bool(getattr(self.generator, "takes_hints", False))

    def forward(self, L: torch.Tensor, hints: torch.Tensor | None = None) -> torch.Tensor:
        if hints is None:
            both = self.generator(torch.cat([L, L.flip(-1)]))
        else:
            both = self.generator(torch.cat([L, L.flip(-1)]), torch.cat([hints, hints.flip(-1)]))
        plain, mirrored = both.chunk(2)
        return (plain + mirrored.flip(-1)) / 2


def colorizing_network(generator: nn.Module, mirror_average: bool) -> nn.Module:
    """``generator`` as it colorizes: wrapped in :class:`MirrorAverage` when asked."""
    return MirrorAverage(generator) if mirror_average else generator
