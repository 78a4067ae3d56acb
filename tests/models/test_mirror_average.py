"""Mirror averaging: the mean of the photo's and its mirror's colour, equivariant, weightless, mode-preserving."""

from __future__ import annotations

import torch
from torch import nn

from colorize.models.mirror_average import MirrorAverage, colorizing_network
from colorize.models.unet import UNet


def small_generator() -> nn.Module:
    torch.manual_seed(0)
    return UNet(base_width=4, depth=2).eval()


def test_output_is_the_mean_of_the_two_passes_and_mirror_equivariant():
    generator = small_generator()
    L = torch.rand(3, 1, 16, 24) * 2 - 1
    with torch.no_grad():
        expected = (generator(L) + generator(L.flip(-1)).flip(-1)) / 2
        averaged = MirrorAverage(generator)(L)
        torch.testing.assert_close(averaged, expected)
        # the colour of the mirrored photo is the mirrored colour
        torch.testing.assert_close(MirrorAverage(generator)(L.flip(-1)), averaged.flip(-1))
        assert not torch.allclose(averaged, generator(L))  # it does change the colour


def test_wrapper_has_no_weights_of_its_own_keeps_the_stride_and_the_mode():
    generator = small_generator()
    wrapper = MirrorAverage(generator)
    assert {id(p) for p in wrapper.parameters()} == {id(p) for p in generator.parameters()}
    assert wrapper.stride == generator.stride and not wrapper.training
    wrapper.eval()
    wrapper.train(wrapper.training)
    assert not generator.training
    assert colorizing_network(generator, False) is generator
