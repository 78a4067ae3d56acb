"""init_normal_ and icnr_: the distributions they draw and what ICNR buys (nearest-neighbour at init)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from colorize.models.init import icnr_, init_normal_


def test_init_normal_reaches_transposed_convs():
    torch.manual_seed(0)
    net = nn.Sequential(nn.ConvTranspose2d(256, 256, 4), nn.Conv2d(256, 256, 4), nn.BatchNorm2d(4096), nn.Linear(3, 3))
    linear_before = net[3].weight.clone()
    assert init_normal_(net) is net
    for conv in net[:2]:
        assert conv.weight.mean().abs() < 1e-3
        assert conv.weight.std().item() == pytest.approx(0.02, rel=0.02)
        assert torch.all(conv.bias == 0)
    assert net[2].weight.mean().item() == pytest.approx(1.0, abs=2e-3)
    assert net[2].weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert torch.all(net[2].bias == 0)
    torch.testing.assert_close(net[3].weight, linear_before)  # only convs and norms are touched


def test_init_normal_std_argument():
    conv = init_normal_(nn.Conv1d(64, 64, 64, bias=False), std=0.1)
    assert conv.weight.std().item() == pytest.approx(0.1, rel=0.05)
    with pytest.raises(ValueError, match="std"):
        init_normal_(conv, std=0.0)


@pytest.mark.parametrize(("scale", "kernel"), [(2, 3), (2, 1), (3, 3)])
def test_icnr_subpixel_conv_is_nearest_neighbour_at_init(scale, kernel):
    torch.manual_seed(0)
    conv = nn.Conv2d(8, 5 * scale**2, kernel, padding=kernel // 2, bias=False)
    icnr_(conv.weight, scale)
    x = torch.randn(2, 8, 7, 9)
    y = F.pixel_shuffle(conv(x), scale)
    # A plain conv with the de-duplicated kernel, then nearest-neighbour upsampling.
    plain = F.conv2d(x, conv.weight[:: scale**2], padding=kernel // 2)
    torch.testing.assert_close(y, F.interpolate(plain, scale_factor=scale, mode="nearest"))
    # Hence constant inside every scale x scale block.
    blocks = y.unfold(2, scale, scale).unfold(3, scale, scale)
    assert torch.equal(blocks, blocks[..., :1, :1].expand_as(blocks))


def test_icnr_draws_with_the_given_init():
    w = torch.empty(16, 4, 3, 3)
    icnr_(w, 2, init=nn.init.ones_)
    assert torch.all(w == 1)
    icnr_(w, 2)  # kaiming_normal_ on the (4, 4, 3, 3) sub-kernel: fan_in = 36
    assert w[::4].std().item() == pytest.approx((2 / 36) ** 0.5, rel=0.3)
    assert torch.equal(w[0::4], w[3::4])


def test_icnr_rejects_a_weight_not_divisible_by_scale_squared():
    with pytest.raises(ValueError, match=r"\(6, 4, 3, 3\)"):
        icnr_(torch.empty(6, 4, 3, 3), 2)
