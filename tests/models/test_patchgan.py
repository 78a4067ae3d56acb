"""PatchGAN: the 30x30 map and 70x70 receptive field of pix2pix, gradients, validation."""

import pytest
import torch
from torch import nn

from colorize.models import PatchGAN
from colorize.models.patchgan import receptive_field


def test_paper_default_gives_30x30_logits_for_256():
    torch.manual_seed(0)
    model = PatchGAN()
    with torch.no_grad():
        y = model(torch.rand(1, 3, 256, 256) * 2 - 1)
    assert y.shape == (1, 1, 30, 30)
    assert model.output_size(256) == 30
    assert not any(isinstance(m, nn.Sigmoid) for m in model.modules())  # logits for BCEWithLogitsLoss
    assert [m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d)] == [64, 128, 256, 512, 1]
    assert sum(p.numel() for p in model.parameters()) == 2_765_633


def test_receptive_field_is_70_for_the_default():
    model = PatchGAN()
    assert receptive_field(model) == 70
    assert model.receptive_field == 70


@pytest.mark.parametrize(("num_layers", "expected"), [(1, 16), (2, 34), (3, 70), (4, 142)])
def test_receptive_field_depends_on_num_layers(num_layers, expected):
    assert receptive_field(PatchGAN(base_width=4, num_layers=num_layers)) == expected


@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_receptive_field_matches_the_gradient_support(num_layers):
    """Independent check: the input pixels that reach one interior logit span exactly the field."""
    torch.manual_seed(0)
    model = PatchGAN(base_width=4, num_layers=num_layers).eval()  # train-mode BN would couple all pixels
    x = torch.randn(1, 3, 160, 160, requires_grad=True)
    y = model(x)
    y[0, 0, y.shape[-2] // 2, y.shape[-1] // 2].backward()
    rows = x.grad.abs().sum(dim=(0, 1, 3)).nonzero()
    cols = x.grad.abs().sum(dim=(0, 1, 2)).nonzero()
    assert rows.max() - rows.min() + 1 == model.receptive_field
    assert cols.max() - cols.min() + 1 == model.receptive_field


def test_receptive_field_of_layer_lists():
    assert receptive_field([nn.Conv2d(1, 1, 3), nn.MaxPool2d(2), nn.Conv2d(1, 1, 3, dilation=2)]) == 1 + 2 + 1 + 4 * 2
    assert receptive_field([nn.ReLU()]) == 1
    with pytest.raises(ValueError, match="square"):
        receptive_field([nn.Conv2d(1, 1, (3, 5))])


@pytest.mark.parametrize(("size", "out"), [((32, 32), (2, 2)), ((32, 48), (2, 4)), ((64, 40), (6, 3))])
def test_output_shape_non_square(size, out):
    model = PatchGAN(base_width=4)
    y = model(torch.zeros(2, 3, *size))
    assert y.shape == (2, 1, *out)
    assert tuple(model.output_size(s) for s in size) == out


def test_every_parameter_gets_a_gradient():
    torch.manual_seed(0)
    model = PatchGAN(base_width=4)
    y = model(torch.rand(2, 3, 32, 40) * 2 - 1)
    assert torch.isfinite(y).all()
    (y * torch.randn_like(y)).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name


def test_input_validation():
    model = PatchGAN(base_width=4)
    with pytest.raises(ValueError, match=r"\(2, 2, 32, 32\)"):
        model(torch.zeros(2, 2, 32, 32))
    assert model.min_size == 24
    with pytest.raises(ValueError, match=r">= 24.*16x32"):
        model(torch.zeros(1, 3, 16, 32))
    model(torch.zeros(2, 3, 24, 24))  # the smallest size works
    with pytest.raises(ValueError, match="num_layers"):
        PatchGAN(num_layers=0)
