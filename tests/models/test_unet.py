"""UNet generator: shapes, ranges, gradients, size validation, the paper's defaults."""

import pytest
import torch
from torch import nn

from colorize.models import UNet


def _L(b, h, w):
    return torch.rand(b, 1, h, w) * 2 - 1


@pytest.mark.parametrize(
    ("depth", "size"),
    [(2, (16, 16)), (2, (16, 36)), (3, (40, 24)), (4, (32, 48))],
)
def test_output_shape_and_range(depth, size):
    torch.manual_seed(0)
    model = UNet(base_width=4, depth=depth)
    y = model(_L(2, *size) * 5)  # overscaled input: tanh must still bound the output
    assert y.shape == (2, 2, *size)
    assert torch.isfinite(y).all()
    assert y.abs().max() <= 1


def test_every_parameter_gets_a_gradient():
    torch.manual_seed(0)
    model = UNet(base_width=4, depth=3)
    y = model(_L(2, 16, 24))
    (y * torch.randn_like(y)).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_stride_and_wrong_size():
    model = UNet(base_width=4, depth=3)
    assert model.stride == 8
    with pytest.raises(ValueError, match=r"multiples of 8.*20x24"):
        model(_L(1, 20, 24))
    with pytest.raises(ValueError, match=r"\(1, 3, 16, 16\)"):
        model(torch.zeros(1, 3, 16, 16))
    with pytest.raises(ValueError, match="depth"):
        UNet(depth=0)


def test_channels_are_configurable():
    model = UNet(in_channels=3, out_channels=5, base_width=4, depth=1)
    assert model(torch.zeros(1, 3, 8, 8)).shape == (1, 5, 8, 8)


def test_paper_defaults():
    torch.manual_seed(0)
    model = UNet()
    assert model.stride == 16
    assert sum(p.numel() for p in model.parameters()) == 31_036_546
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [m.out_channels for m in convs[:10:2]] == [64, 128, 256, 512, 1024]
    assert not any(isinstance(m, nn.modules.dropout._DropoutNd) for m in model.modules())
    # init_normal_ ran in the constructor and reached the transposed convs too.
    up = max((m for m in model.modules() if isinstance(m, nn.ConvTranspose2d)), key=lambda m: m.weight.numel())
    assert up.kernel_size == (2, 2) and up.stride == (2, 2)
    assert up.weight.std().item() == pytest.approx(0.02, rel=0.02)
