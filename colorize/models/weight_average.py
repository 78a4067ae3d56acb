"""An exponential moving average of a network's weights: the copy that colorizes.

A GAN's generator never settles: every step of the adversarial game moves its weights, so
the network at any one step carries that step's noise (a green tint one step, a brown one the
next). The running average of the last few hundred steps is a cheap ensemble of them; GAN
work since Karras et al. (2018) evaluates and ships that average rather than the raw weights.
Training keeps updating the raw network; validation, test, predict and export read the average.

Parameters and floating-point buffers (batch-norm statistics) are averaged; integer buffers
(``num_batches_tracked``) are copied.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class WeightAverage(nn.Module):
    """``average`` follows ``network``'s weights by ``a <- decay·a + (1 - decay)·w`` after each step.

    The decay ramps up as TensorFlow's ``ExponentialMovingAverage(num_updates=...)`` does,
    ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates, so the randomly initialized start
    is forgotten within the first steps even in a short run.

    Args:
        network: the network to follow; copied here, never modified.
        decay: in (0, 1); the average's half-life is ``ln 2 / -ln(decay)`` steps (0.98: 34).
    """

    def __init__(self, network: nn.Module, decay: float) -> None:
        super().__init__()
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the weight average's decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.average = copy.deepcopy(network).eval().requires_grad_(False)
        # A buffer, so a resumed run continues the ramp where it stopped.
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    def forward(self, *args, **kwargs):
        return self.average(*args, **kwargs)

    def train(self, mode: bool = True) -> WeightAverage:
        # The average never trains: batch norm keeps its averaged statistics even when the owner trains.
        super().train(mode)
        self.average.eval()
        return self

    def current_decay(self) -> float:
        n = int(self.updates)
        return min(self.decay, (1.0 + n) / (10.0 + n))

    @torch.no_grad()
    def update(self, network: nn.Module) -> None:
        """Move the average one step towards ``network``'s current weights."""
        decay = self.current_decay()
        mine = dict(self.average.named_parameters()) | dict(self.average.named_buffers())
        theirs = dict(network.named_parameters()) | dict(network.named_buffers())
        if mine.keys() != theirs.keys():
            raise ValueError("the weight average and the network it follows have different parameters")
        for key, tensor in mine.items():
            if tensor.is_floating_point():
                tensor.lerp_(theirs[key].to(tensor.dtype), 1.0 - decay)
            else:
                tensor.copy_(theirs[key])
        self.updates += 1
