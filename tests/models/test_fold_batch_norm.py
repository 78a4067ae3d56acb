"""Batch norms folded into their convolutions for inference: the same function, fewer passes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from colorize.models.fold_batch_norm import fold_batch_norms
from colorize.models.hints import takes_hints
from colorize.models.mirror_average import MirrorAverage
from colorize.models.resnet_unet import ResNetUNet
from colorize.models.unet import UNet


def trained_statistics_(network: nn.Module) -> nn.Module:
    """Running statistics and affine weights far from their initial 0/1, as after training."""
    torch.manual_seed(1)
    for m in network.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return network


@pytest.mark.parametrize(
    "network",
    [UNet(base_width=4, depth=2), ResNetUNet("resnet18"), MirrorAverage(UNet(base_width=4, depth=2))],
    ids=["unet", "resnet18", "mirrored"],
)
@torch.no_grad()
def test_the_folded_copy_computes_the_same_with_fewer_norms(network):
    network = trained_statistics_(network).train()
    folded = fold_batch_norms(network)
    L = torch.rand(2, 1, 64, 64) * 2 - 1
    norms = lambda m: sum(isinstance(x, nn.BatchNorm2d) for x in m.modules())  # noqa: E731
    assert norms(folded) < norms(network)
    assert network.training  # the original is untouched
    expected = network.eval()(L)
    assert not torch.equal(folded(L), expected) or norms(folded) == 0
    assert torch.allclose(folded(L), expected, atol=1e-4)


@torch.no_grad()
def test_a_folded_hint_model_refuses_hints_rather_than_mis_scaling_them():
    network = trained_statistics_(UNet(base_width=4, depth=2, hints=True))
    folded = fold_batch_norms(MirrorAverage(network))
    assert takes_hints(network) and not takes_hints(folded)
    L = torch.rand(1, 1, 32, 32) * 2 - 1
    assert torch.allclose(folded(L), MirrorAverage(network).eval()(L), atol=1e-4)
    with pytest.raises(ValueError, match="colours without hints"):
        folded(L, torch.zeros(1, 3, 32, 32))
