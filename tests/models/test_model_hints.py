"""The hint path of the generators: starts at zero, loads hint-free weights, learns, mirrors."""

from __future__ import annotations

import pytest
import torch
from tiny_runs import offline_weights_installed

from colorize.models.hints import HINT_CHANNELS, HINT_MODULES, takes_hints
from colorize.models.imagenet_weights import OFFLINE_WEIGHTS
from colorize.models.mirror_average import MirrorAverage
from colorize.models.resnet_unet import ResNetUNet
from colorize.models.unet import UNet
from colorize.models.weight_average import WeightAverage

SMALL = [
    (UNet, {"base_width": 4, "depth": 2}),
    (ResNetUNet, {"encoder": "resnet18"}),
    (ResNetUNet, {"encoder": "tf_efficientnet_lite0"}),
]


def some_hints(b: int, size: int) -> torch.Tensor:
    hints = torch.zeros(b, HINT_CHANNELS, size, size)
    hints[:, 0, 4:9, 6:12] = 0.6
    hints[:, 1, 4:9, 6:12] = -0.4
    hints[:, 2, 4:9, 6:12] = 1.0
    return hints


@pytest.mark.parametrize(("cls", "kwargs"), SMALL, ids=["unet", "resnet18", "lite0"])
@torch.no_grad()
def test_a_hint_model_loading_hint_free_weights_is_the_hint_free_network(cls, kwargs):
    torch.manual_seed(0)
    free = cls(**kwargs).eval()
    hinted = cls(**kwargs, hints=True).eval()
    hinted.load_state_dict(free.state_dict(), strict=True)
    L = torch.rand(2, 1, 64, 64) * 2 - 1
    expected = free(L)
    assert takes_hints(hinted) and not takes_hints(free)
    assert torch.equal(hinted(L), expected)
    # The hint path starts at zero: hints change nothing until it is trained.
    assert torch.equal(hinted(L, some_hints(2, 64)), expected)


@pytest.mark.parametrize(("cls", "kwargs"), SMALL, ids=["unet", "resnet18", "lite0"])
def test_the_hint_weights_start_at_zero_and_get_a_gradient(cls, kwargs):
    torch.manual_seed(0)
    model = cls(**kwargs, hints=True).train()
    widened = [p for p in model.parameters() if p.ndim == 4 and p.shape[1] > HINT_CHANNELS and p.grad is None]
    L = torch.rand(2, 1, 64, 64) * 2 - 1
    model(L, some_hints(2, 64)).square().mean().backward()
    hint_slices = [n for n, p in model.named_parameters() if n.endswith("weight") and p.ndim == 4]
    own_modules = {n for n, _ in model.named_parameters() if n.split(".")[0] in HINT_MODULES}

    def hint_part(t: torch.Tensor) -> torch.Tensor:  # a convolution's hint input channels (last); a bias whole
        return t[:, -HINT_CHANNELS:] if t.ndim == 4 else t

    zero_and_learning = {
        n
        for n, p in model.named_parameters()
        if (p.ndim == 4 or n in own_modules)
        and not hint_part(p).any()
        and p.grad is not None
        and hint_part(p.grad).abs().sum() > 0
    }
    assert widened and hint_slices
    # The widened input convolutions (UNet: the first conv; ResNetUNet: the stem and the full-resolution
    # skip), one spread-hint conv per decoder level, the head's and the blend's gate: all zero, all learning.
    depth = len(model.up) if cls is UNet else len(model.decoder)
    assert len(own_modules) == depth + 3  # the gate has a bias too
    assert all(not dict(model.named_parameters())[n].any() for n in own_modules)
    assert len(zero_and_learning - own_modules) == (1 if cls is UNet else 2)
    assert own_modules <= zero_and_learning


@pytest.mark.parametrize("weights", ["efficientnet_lite0", "vgg16"])
def test_pretrained_stems_keep_their_weights_beside_zero_hint_channels(weights):
    if not offline_weights_installed(weights):
        pytest.skip(f"{OFFLINE_WEIGHTS[weights].requirement} is not installed (make install)")
    encoder = OFFLINE_WEIGHTS[weights].encoders[0]
    extra = {"out_indices": [1, 2, 3, 4, 5]} if weights == "vgg16" else {}
    free = ResNetUNet(encoder, weights=weights, **extra)
    hinted = ResNetUNet(encoder, weights=weights, hints=True, **extra)
    free_encoder, hinted_encoder = free.encoder.state_dict(), hinted.encoder.state_dict()
    widened = [k for k, v in hinted_encoder.items() if v.shape != free_encoder[k].shape]
    assert len(widened) == 1
    stem = hinted_encoder[widened[0]]
    assert torch.equal(stem[:, :1], free_encoder[widened[0]])
    assert not stem[:, 1:].any()
    assert all(torch.equal(v, free_encoder[k]) for k, v in hinted_encoder.items() if k not in widened)


@pytest.mark.parametrize(("cls", "kwargs"), SMALL[:2], ids=["unet", "resnet18"])
def test_bad_hints_are_refused_naming_the_shape(cls, kwargs):
    L = torch.zeros(2, 1, 32, 32)
    with pytest.raises(ValueError, match="built without hints"):
        cls(**kwargs)(L, some_hints(2, 32))
    with pytest.raises(ValueError, match=r"hints of shape \(2, 3, 32, 32\), got \(2, 2, 32, 32\)"):
        cls(**kwargs, hints=True)(L, torch.zeros(2, 2, 32, 32))


@torch.no_grad()
def test_mirror_average_mirrors_the_hints_with_the_photo():
    torch.manual_seed(0)
    model = UNet(base_width=4, depth=2, hints=True).eval()
    for p in model.parameters():  # trained weights, hint path included: outputs far from 0 that hints move
        p.copy_(torch.randn_like(p) * 0.5)
    L, hints = torch.rand(1, 1, 32, 32) * 2 - 1, some_hints(1, 32)
    expected = (model(L, hints) + model(L.flip(-1), hints.flip(-1)).flip(-1)) / 2
    averaged = MirrorAverage(model)
    assert averaged.takes_hints
    assert torch.allclose(averaged(L, hints), expected, atol=1e-4)
    assert not torch.allclose(averaged(L, hints), averaged(L), atol=1e-2)
    unmirrored = (model(L, hints) + model(L.flip(-1), hints).flip(-1)) / 2
    assert not torch.allclose(unmirrored, expected, atol=1e-2)
    ema = WeightAverage(model, 0.5)
    assert takes_hints(ema.average) and torch.allclose(ema(L, hints), model(L, hints), atol=1e-4)


@pytest.mark.parametrize(("cls", "kwargs"), SMALL[:2], ids=["unet", "resnet18"])
@torch.no_grad()
def test_no_hints_given_as_zeros_colour_as_none_does_however_trained(cls, kwargs):
    # Trained hint weights (all of them non-zero): a photo without hints in a hinted batch must still get
    # the network's own colour, as the 0-hint rows of `colorize test` (hints=None) measure it.
    torch.manual_seed(0)
    model = cls(**kwargs, hints=True).eval()
    for name in HINT_MODULES:
        for p in getattr(model, name).parameters():
            p.copy_(torch.randn_like(p) * 0.3)
    L = torch.rand(2, 1, 64, 64) * 2 - 1
    hints = some_hints(2, 64)
    hints[1] = 0  # the second photo has none
    both = model(L, hints)
    assert torch.allclose(both[1], model(L[1:])[0], atol=1e-5)
    assert not torch.allclose(both[0], model(L[:1])[0], atol=1e-2)  # the first one's hints do count
