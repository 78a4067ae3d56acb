"""The hints spread over the image (pull-push) that a hint generator's decoder levels and head read."""

from __future__ import annotations

import pytest
import torch

from colorize.models.hint_spread import spread_hints


def hints_at(points, size=(32, 48)) -> torch.Tensor:
    """One photo's hint planes with a 1-pixel hint of ``ab`` at each ``(y, x)``."""
    hints = torch.zeros(1, 3, *size)
    for (y, x), ab in points:
        hints[0, :2, y, x] = torch.tensor(ab)
        hints[0, 2, y, x] = 1.0
    return hints


def test_no_hints_spread_to_exactly_nothing():
    levels = spread_hints(torch.zeros(2, 3, 32, 48), 5)
    assert [tuple(level.shape) for level in levels] == [(2, 3, 32 // 2**k, 48 // 2**k) for k in range(5)]
    assert not any(level.any() for level in levels)


def test_one_hint_reaches_every_pixel_with_a_confidence_that_falls_with_distance():
    levels = spread_hints(hints_at([((4, 5), (0.5, -0.25))]), 4)
    full = levels[0][0]
    assert torch.allclose(full[0], torch.full((32, 48), 0.5)) and torch.allclose(full[1], torch.full((32, 48), -0.25))
    confidence = full[2]
    assert confidence[4, 5] == 1.0
    assert 0 < confidence[31, 47] < confidence[8, 9] < confidence[5, 6] < 1.0
    assert all(torch.allclose(level[0, 0], torch.full_like(level[0, 0], 0.5)) for level in levels)


def test_each_region_takes_the_colour_of_the_hint_nearest_to_it():
    red, blue = (0.6, 0.3), (-0.1, -0.5)
    full = spread_hints(hints_at([((6, 6), red), ((26, 42), blue)]), 1)[0][0]
    near_red, near_blue = full[:2, 2:10, 2:10], full[:2, 22:30, 38:46]
    assert torch.allclose(near_red.mean((1, 2)), torch.tensor(red), atol=0.1)
    assert torch.allclose(near_blue.mean((1, 2)), torch.tensor(blue), atol=0.1)
    # In between, a blend of the two (the bilinear push), not gray.
    middle = full[:2, 16, 24]
    assert middle[0] < red[0] and middle[0] > blue[0]


def test_odd_sizes_round_up_and_too_many_levels_are_refused():
    levels = spread_hints(hints_at([((2, 2), (0.1, 0.1))], size=(7, 5)), 3)
    assert [tuple(level.shape[-2:]) for level in levels] == [(7, 5), (4, 3), (2, 2)]
    with pytest.raises(ValueError, match="levels"):
        spread_hints(torch.zeros(1, 3, 4, 4), 4)


def test_with_the_photo_s_lightness_a_colour_stays_on_the_side_of_the_edge_it_was_given_on():
    # A dark left half and a bright right half, a red hint on the dark side and a blue one on the bright side,
    # both near the top: at the bottom of each half the colour is its own side's hint, on both sides of
    # the middle where distance alone blends them.
    red, blue = (0.6, 0.3), (-0.1, -0.5)
    hints = hints_at([((5, 5), red), ((5, 40), blue)])
    lightness = torch.full((1, 1, 32, 48), -0.5)
    lightness[..., 24:] = 0.5
    aware = spread_hints(hints, 1, lightness)[0][0]
    blind = spread_hints(hints, 1)[0][0]
    assert torch.allclose(aware[:2, 28, 21], torch.tensor(red), atol=0.02)
    assert torch.allclose(aware[:2, 28, 26], torch.tensor(blue), atol=0.02)
    assert (blind[:2, 28, 21] - torch.tensor(red)).abs().max() > 0.1  # distance alone blends across the edge
