"""ResNetUNet: timm encoders, ICNR sub-pixel decoder, local pretrained weights, fast offline failure."""

import time

import pytest
import timm
import torch
import torch.nn.functional as F
from tiny_runs import offline_weights_installed
from torch import nn

from colorize.models import ResNetUNet
from colorize.models.resnet_unet import SubPixelUpsample, _hub_reachable


def _L(b, h, w):
    return torch.rand(b, 1, h, w) * 2 - 1


@pytest.fixture(scope="module")
def resnet18_unet():
    torch.manual_seed(0)
    return ResNetUNet()


@pytest.mark.parametrize("size", [(32, 32), (32, 64), (64, 32)])
def test_output_shape_and_range(resnet18_unet, size):
    y = resnet18_unet(_L(2, *size) * 3)
    assert y.shape == (2, 2, *size)
    assert torch.isfinite(y).all()
    assert y.abs().max() <= 1


def test_decoder_follows_feature_info(resnet18_unet):
    model = resnet18_unet
    assert model.stride == 32 == max(model.encoder.feature_info.reduction())
    ups = [m for m in model.decoder.modules() if isinstance(m, SubPixelUpsample)]
    assert len(ups) == 5  # 32 -> 1, one x2 level each
    widths = [block.conv[0].out_channels for block in model.decoder]
    assert widths == [256, 128, 64, 64, 32]  # channels() at reductions 16, 8, 4, 2, then half at full res
    assert model.decoder[-1].conv[0].in_channels == 32 + 1  # the input L is the last skip
    assert model.head.out_channels == 2


def _assert_every_parameter_moves(model, size):
    # timm zero-inits the last BN gamma of each residual block, which stops gradients into the
    # branch at init by design; give them a value so the wiring of every weight is tested.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.weight is not None and not m.weight.any():
                m.weight.fill_(1.0)
    torch.manual_seed(1)
    y = model(_L(2, *size))
    (y * torch.randn_like(y)).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_every_parameter_gets_a_gradient():
    torch.manual_seed(0)
    _assert_every_parameter_moves(ResNetUNet(), (32, 64))


def test_decoder_gradients_flow_at_init():
    torch.manual_seed(0)
    model = ResNetUNet()
    y = model(_L(2, 32, 32))
    (y * torch.randn_like(y)).sum().backward()
    for name, p in model.named_parameters():
        if not name.startswith("encoder."):
            assert p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("encoder", ["mobilenetv3_small_100", "convnext_atto"])
def test_other_timm_families(encoder):
    torch.manual_seed(0)
    model = ResNetUNet(encoder)
    reductions = model.encoder.feature_info.reduction()
    assert model.stride == reductions[-1] == 32
    y = model(_L(2, 32, 64))
    assert y.shape == (2, 2, 32, 64)
    assert torch.isfinite(y).all() and y.abs().max() <= 1
    if encoder == "convnext_atto":  # first map at reduction 4: the reduction-2 level has no skip
        assert reductions[0] == 4
        assert model.decoder[-2].conv[0].in_channels == model.decoder[-2].conv[0].out_channels
    else:
        _assert_every_parameter_moves(model, (32, 64))


def test_wrong_size_and_channels(resnet18_unet):
    with pytest.raises(ValueError, match=r"multiples of 32.*48x64"):
        resnet18_unet(_L(1, 48, 64))
    with pytest.raises(ValueError, match=r"\(2, 2, 32, 32\)"):
        resnet18_unet(torch.zeros(2, 2, 32, 32))


def test_icnr_subpixel_block_is_nearest_neighbour_at_init(resnet18_unet):
    for block in resnet18_unet.decoder:
        up = block.up
        x = torch.randn(1, up.conv.in_channels, 3, 5)
        with torch.no_grad():
            y = up(x)
            plain = F.relu(F.conv2d(x, up.conv.weight[::4], up.conv.bias[::4]))
        torch.testing.assert_close(y, F.interpolate(plain, scale_factor=2, mode="nearest"))
        blocks = y.unfold(2, 2, 2).unfold(3, 2, 2)
        assert torch.equal(blocks, blocks[..., :1, :1].expand_as(blocks))


def test_decoder_uses_normal_init(resnet18_unet):
    conv = resnet18_unet.decoder[0].conv[0]  # 512 -> 256, 3x3
    assert conv.weight.std().item() == pytest.approx(0.02, rel=0.02)


def _save(state_dict, path):
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state_dict.items()}, str(path))
    else:
        torch.save(state_dict, path)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_pretrained_path_loads_into_the_encoder(tmp_path, suffix):
    torch.manual_seed(123)
    source = timm.create_model("resnet18", pretrained=False)
    with torch.no_grad():  # every tensor distinguishable from a fresh init (timm zero-inits some BN gammas)
        for tensor in [*source.parameters(), *source.buffers()]:
            if tensor.is_floating_point():
                tensor.uniform_(0.5, 1.5)
    state = source.state_dict()
    path = tmp_path / f"resnet18{suffix}"
    _save(state, path)

    torch.manual_seed(0)
    model = ResNetUNet(pretrained_path=path)
    loaded = model.encoder.state_dict()
    torch.testing.assert_close(loaded["conv1.weight"], state["conv1.weight"].sum(dim=1, keepdim=True))
    for key, value in loaded.items():
        if key != "conv1.weight":
            torch.testing.assert_close(value, state[key], msg=key)
    assert set(state) - set(loaded) == {"fc.weight", "fc.bias"}


def test_pretrained_path_maps_renamed_feature_keys(tmp_path):
    """convnext's features_only wrapper renames ``stages.0`` to ``stages_0``: the file's keys still load."""
    torch.manual_seed(7)
    state = timm.create_model("convnext_atto", pretrained=False).state_dict()
    path = tmp_path / "convnext_atto.pth"
    torch.save(state, path)
    model = ResNetUNet("convnext_atto", pretrained_path=path)
    loaded = model.encoder.state_dict()
    torch.testing.assert_close(loaded["stem_0.weight"], state["stem.0.weight"].sum(dim=1, keepdim=True))
    torch.testing.assert_close(loaded["stages_3.blocks.1.mlp.fc2.weight"], state["stages.3.blocks.1.mlp.fc2.weight"])


def test_pretrained_path_drops_the_whole_head(tmp_path):
    """MobileNetV3's features_only model also drops conv_head: not an error, not loaded."""
    torch.manual_seed(7)
    state = timm.create_model("mobilenetv3_small_100", pretrained=False).state_dict()
    path = tmp_path / "mnv3.bin"
    torch.save(state, path)
    model = ResNetUNet("mobilenetv3_small_100", pretrained_path=path)
    loaded = model.encoder.state_dict()
    assert "conv_head.weight" in state and "conv_head.weight" not in loaded
    torch.testing.assert_close(loaded["blocks.5.0.conv.weight"], state["blocks.5.0.conv.weight"])


def test_pretrained_path_accepts_torchvision_weights(tmp_path):
    torchvision = pytest.importorskip("torchvision")
    state = torchvision.models.resnet18(weights=None).state_dict()
    path = tmp_path / "tv_resnet18.pth"
    torch.save(state, path)
    model = ResNetUNet(pretrained_path=path)
    torch.testing.assert_close(model.encoder.layer4[1].conv2.weight, state["layer4.1.conv2.weight"])


def test_pretrained_path_rejects_other_keys(tmp_path):
    state = timm.create_model("resnet18", pretrained=False).state_dict()
    extra = tmp_path / "extra.pth"
    torch.save({**state, "projector.weight": torch.zeros(3)}, extra)
    with pytest.raises(ValueError, match=r"extra\.pth.*projector\.weight"):
        ResNetUNet(pretrained_path=extra)
    missing = tmp_path / "missing.pth"
    torch.save({k: v for k, v in state.items() if not k.startswith("layer2.0.conv1")}, missing)
    with pytest.raises(ValueError, match=r"missing\.pth.*layer2\.0\.conv1\.weight"):
        ResNetUNet(pretrained_path=missing)
    wrong = tmp_path / "wrong.pth"
    torch.save(timm.create_model("resnet34", pretrained=False).state_dict(), wrong)
    with pytest.raises(ValueError, match=r"wrong\.pth"):
        ResNetUNet(pretrained_path=wrong)
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        ResNetUNet(pretrained_path=tmp_path / "nope.pth")


def _assert_fails_fast_with_ways_out():
    start = time.monotonic()
    with pytest.raises(RuntimeError) as info:
        ResNetUNet(pretrained=True)
    assert time.monotonic() - start < 5
    assert "pretrained: false" in str(info.value)
    assert "pretrained_path" in str(info.value)


def test_offline_pretrained_fails_fast():
    # conftest sets HF_HUB_OFFLINE=1: timm looks in the local cache only, which is empty here.
    _assert_fails_fast_with_ways_out()


def test_unreachable_hub_fails_fast_without_retries(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: nothing listens
    assert not _hub_reachable()
    _assert_fails_fast_with_ways_out()


# --- offline ImageNet encoders (colorize.models.imagenet_weights) ---------------------------------------------------

OFFLINE = {  # weights -> init_args that work
    "vgg16": {"encoder": "vgg16", "out_indices": [1, 2, 3, 4, 5]},
    "efficientnet_lite0": {"encoder": "tf_efficientnet_lite0"},
    "efficientnet_lite1": {"encoder": "tf_efficientnet_lite1"},
    "efficientnet_lite2": {"encoder": "tf_efficientnet_lite2"},
}


def _offline_unet(weights):
    from colorize.models.imagenet_weights import OFFLINE_WEIGHTS

    if not offline_weights_installed(weights):
        pytest.skip(f"{OFFLINE_WEIGHTS[weights].requirement} is not installed (make install)")
    torch.manual_seed(0)
    return ResNetUNet(weights=weights, **OFFLINE[weights])


def test_every_offline_source_has_working_init_args():
    from colorize.models.imagenet_weights import OFFLINE_WEIGHTS

    assert set(OFFLINE) == set(OFFLINE_WEIGHTS)


@pytest.mark.parametrize("weights", list(OFFLINE))
def test_offline_encoder_unet_at_128px(weights):
    model = _offline_unet(weights)
    assert model.stride == 32 == max(model.encoder.feature_info.reduction())
    assert min(model.encoder.feature_info.reduction()) == 2
    y = model(_L(2, 128, 128))
    assert y.shape == (2, 2, 128, 128)
    assert torch.isfinite(y).all() and y.abs().max() <= 1
    (y * torch.randn_like(y)).sum().backward()
    for name, p in model.named_parameters():
        if not name.startswith("encoder."):
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert all(p.grad is not None for p in model.encoder.parameters())  # the encoder trains too


def test_out_indices_choose_the_maps_and_reduction_1_is_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"reductions \[1, 2, 4, 8, 16, 32\].*out_indices: \[1, 2, 3, 4, 5\]"):
        ResNetUNet("vgg16")
    model = ResNetUNet("resnet18", out_indices=[1, 2, 3])
    assert model.encoder.feature_info.reduction() == [4, 8, 16] and model.stride == 16
    assert model(_L(1, 32, 48)).shape == (1, 2, 32, 48)


def test_input_scaling_follows_the_encoders_config():
    from colorize.models.resnet_unet import GRAY_MEAN, GRAY_STD

    torch.manual_seed(0)
    resnet = ResNetUNet()
    assert (resnet.input_mean, resnet.input_std) == (GRAY_MEAN, GRAY_STD)  # bit-identical to before
    x = _L(1, 32, 32)
    torch.testing.assert_close(resnet.encoder_input(x), ((x + 1) / 2 - GRAY_MEAN) / GRAY_STD, rtol=0, atol=0)
    lite = ResNetUNet("tf_efficientnet_lite0")  # no weights: the scaling depends on the name alone
    assert (lite.input_mean, lite.input_std) == (0.5, 0.5)
    torch.testing.assert_close(lite.encoder_input(x), x)


def test_bf16_channels_last_decoder_concatenates_in_bf16_and_channels_last():
    # The full-resolution skip is the fp32 input L: concatenated as is, it would promote the whole map to
    # fp32 (and NCHW), which the next convolution converts back, forward and backward.
    net = ResNetUNet("resnet18", pretrained=False).to(memory_format=torch.channels_last)
    seen = {}
    last_conv = net.decoder[-1].conv[0]
    last_conv.register_forward_pre_hook(lambda module, args: seen.setdefault("input", args[0]))
    L = torch.empty(2, 1, 64, 64, memory_format=torch.channels_last).uniform_(-1, 1)
    with torch.autocast("cpu", torch.bfloat16):
        net(L)
    assert seen["input"].dtype == torch.bfloat16
    assert seen["input"].is_contiguous(memory_format=torch.channels_last)
