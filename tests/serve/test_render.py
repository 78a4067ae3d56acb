"""Colour strength and previews."""

from __future__ import annotations

import pytest
import torch

from colorize.serve.render import ScaledColor, colorize_at_strength, gray_of, preview


class Doubler(torch.nn.Module):
    stride = 8

    def __init__(self):
        super().__init__()
        self.bn = torch.nn.BatchNorm2d(1)

    def forward(self, L):
        return torch.cat([L, -L], dim=1) * 0.1


def test_scaled_color_multiplies_ab_and_leaves_the_generator_mode_alone():
    generator = Doubler().eval()
    scaled = ScaledColor(generator, 0.5)
    L = torch.rand(1, 1, 8, 8)
    assert torch.allclose(scaled(L), generator(L) * 0.5)
    assert scaled.stride == 8 and not scaled.training
    scaled.train(scaled.training)
    assert not generator.training


@pytest.mark.parametrize("bad", [-0.01, 2.01, float("nan")])
def test_strength_outside_its_range_is_refused(bad):
    with pytest.raises(ValueError, match="strength"):
        colorize_at_strength(object(), torch.zeros(3, 4, 4, dtype=torch.uint8), bad)


def test_gray_of_is_exactly_gray_and_keeps_a_gray_input():
    gray = torch.arange(0, 256, 4, dtype=torch.uint8).reshape(1, 8, 8).expand(3, -1, -1)
    out = gray_of(gray)
    assert (out[0] == out[1]).all() and (out[1] == out[2]).all()
    assert (out.int() - gray.int()).abs().max() <= 1


def test_preview_shrinks_only_large_pictures_keeping_the_aspect():
    small = torch.zeros(3, 30, 40, dtype=torch.uint8)
    assert preview(small, max_side=40) is small
    assert preview(torch.zeros(3, 300, 1000, dtype=torch.uint8), max_side=100).shape == (3, 30, 100)
