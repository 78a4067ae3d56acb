"""Full-resolution inference: working-size arithmetic, size and lightness kept, batches, bf16."""

import pytest
import torch
import torch.nn.functional as F
from kornia.color import rgb_to_lab
from tiny_runs import colourful_unet
from torch import nn

from colorize.color import normalized_lab_to_rgb, rgb_to_normalized_l, to_uint8_image
from colorize.inference import full_resolution
from colorize.inference.full_resolution import (
    CPU_PASS_PIXELS,
    bf16_is_used,
    colorize_image,
    colorize_images,
    working_size,
)

# uint8 rounding of the output moves L* by at most ~0.27: the steepest slope of L* against an
# sRGB value is ~134 L* per unit (near V = 0.09), times half a level (0.5 / 255). 0.5 leaves
# room for float32; anything larger would mean the lightness was not the input's.
L_TOLERANCE = 0.5


class TinyGenerator(nn.Module):
    """Stand-in generator: L (B, 1, h, w) -> ab (B, 2, h, w) in [-scale, scale], sides multiple of 4."""

    stride = 4

    def __init__(self, scale: float = 0.3) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.scale = scale
        self.seen: list[torch.Tensor] = []

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        if L.shape[-2] % self.stride or L.shape[-1] % self.stride:
            raise ValueError(f"H and W must be multiples of {self.stride}, got {tuple(L.shape)}")
        self.seen.append(L)
        return self.scale * torch.tanh(3 * self.conv(L))


class ZeroGenerator(nn.Module):
    """Predicts no colour at all: the output must be the input's gray."""

    stride = 8

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        return L.new_zeros(L.shape[0], 2, *L.shape[-2:])


def photo_like(height: int, width: int, seed: int = 0) -> torch.Tensor:
    """uint8 (3, H, W): smooth colour regions plus sensor-like noise (fine detail to keep)."""
    g = torch.Generator().manual_seed(seed)
    smooth = F.interpolate(torch.rand(1, 3, 6, 5, generator=g), size=(height, width), mode="bicubic")
    noise = 0.03 * torch.randn(1, 3, height, width, generator=g)
    return ((smooth + noise).clamp(0, 1) * 255).round().to(torch.uint8)[0]


def lightness(rgb: torch.Tensor) -> torch.Tensor:
    return rgb_to_lab(rgb.float() / 255.0)[0]


@pytest.mark.parametrize(
    ("size", "target", "stride", "expected"),
    [
        ((480, 640), 256, 32, (256, 352)),  # 640 * 256 / 480 = 341.3 -> 352
        ((640, 480), 256, 32, (352, 256)),
        ((256, 256), 256, 8, (256, 256)),  # already the training size
        ((123, 77), 32, 4, (52, 32)),  # 123 * 32 / 77 = 51.1 -> 52
        ((100, 50), 3, 8, (8, 8)),  # target below the stride: one stride, never 0
        ((1000, 1), 2, 8, (2000, 8)),
    ],
)
def test_working_size_known_values(size, target, stride, expected):
    assert working_size(*size, target=target, stride=stride) == expected


@pytest.mark.parametrize("stride", [1, 4, 32])
def test_working_size_keeps_aspect_and_stride(stride):
    g = torch.Generator().manual_seed(stride)
    for height, width in torch.randint(1, 5000, (200, 2), generator=g).tolist():
        h, w = working_size(height, width, 256, stride)
        assert h % stride == 0 and w % stride == 0 and h >= stride and w >= stride
        scale = 256 / min(height, width)
        # Each side is the nearest multiple of the stride to the exactly scaled side.
        assert abs(h - height * scale) <= stride / 2 or h == stride
        assert abs(w - width * scale) <= stride / 2 or w == stride


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_working_size_rejects_non_positive_ints(bad):
    with pytest.raises(ValueError, match="positive int"):
        working_size(100, 100, bad, 4)


@pytest.mark.parametrize("seed", [0, 1])
def test_colorize_image_keeps_size_and_lightness(seed):
    image = photo_like(123, 77, seed)  # neither side a multiple of the stride
    generator = TinyGenerator()
    out = colorize_image(generator, image, target_size=32)

    assert out.shape == (3, 123, 77) and out.dtype == torch.uint8
    assert len(generator.seen) == 1 and generator.seen[0].shape == (1, 1, *working_size(123, 77, 32, 4))
    # Clipping an out-of-gamut colour changes lightness; a clipped channel lands on 0 or 255.
    in_gamut = ((out > 0) & (out < 255)).all(dim=0)
    assert in_gamut.float().mean() > 0.8
    delta = (lightness(out) - lightness(image)).abs()[in_gamut]
    assert delta.max() <= L_TOLERANCE
    assert not torch.equal(out, image)  # it did recolour


def test_colorize_image_gray_input_with_no_colour_returns_the_input():
    gray = photo_like(45, 61)[:1]
    out = colorize_image(ZeroGenerator(), gray, target_size=16)
    assert out.shape == (3, 45, 61)
    assert (out.int() - gray.int()).abs().max() <= 1


def test_colorize_image_only_shows_the_generator_lightness():
    image = photo_like(40, 40)
    generator = TinyGenerator()
    colorize_image(generator, image, target_size=40)
    L = generator.seen[0]
    assert L.shape == (1, 1, 40, 40) and L.min() >= -1 and L.max() <= 1
    expected = lightness(image) / 50 - 1
    assert torch.allclose(L[0, 0], expected, atol=1e-5)


def test_colorize_image_restores_mode_and_follows_the_generator_dtype():
    generator = TinyGenerator().double().train()
    out = colorize_image(generator, photo_like(20, 28), target_size=16)
    assert generator.training and out.shape == (3, 20, 28) and out.dtype == torch.uint8
    assert generator.seen[0].dtype == torch.float64 and not generator.seen[0].requires_grad


def test_colorize_image_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        colorize_image(TinyGenerator(), torch.zeros(1, 3, 8, 8, dtype=torch.uint8), target_size=8)


# ---- batches and bf16 ------------------------------------------------------------------------


def colour_of(rgb: torch.Tensor) -> torch.Tensor:
    """CIE Lab (3, H, W) of a uint8 sRGB image, in float64 so the comparison adds no error of its own."""
    return rgb_to_lab(rgb.double()[None] / 255.0)[0]


class CountBatches:
    """Forward hook recording each call's batch size and whether bf16 autocast was on."""

    def __init__(self, module: nn.Module) -> None:
        self.calls: list[tuple[int, bool]] = []
        module.register_forward_hook(self)

    def __call__(self, module, args, output) -> None:
        self.calls.append((args[0].shape[0], torch.is_autocast_enabled(args[0].device.type)))


# Full sizes and working sizes at target 32, stride 4: A, C and E share (32, 44) though E's photo is larger.
MIXED = [(120, 160), (97, 61), (120, 160), (160, 120), (121, 161)]


def test_colorize_images_runs_one_pass_per_working_size_and_matches_one_at_a_time():
    photos = [photo_like(h, w, seed) for seed, (h, w) in enumerate(MIXED)]
    generator = colourful_unet()
    passes = CountBatches(generator)
    batched = colorize_images(generator, photos, target_size=32, bf16=False)

    assert passes.calls == [(3, False), (1, False), (1, False)]  # groups in order of first appearance
    assert [tuple(o.shape) for o in batched] == [(3, h, w) for h, w in MIXED]
    for photo, out in zip(photos, batched, strict=True):
        alone = colorize_image(generator, photo, target_size=32, bf16=False)
        # Eval-mode BatchNorm: a batch changes only the float rounding of the convolutions.
        assert (out.int() - alone.int()).abs().max() <= 1
        assert (out == alone).float().mean() > 0.99
    assert colour_of(batched[0])[1:].norm(dim=0).mean() > 10  # the photos really were coloured


def test_bf16_moves_colour_less_than_the_issue_allows_and_lightness_not_at_all(monkeypatch):
    # On every CPU, as on those with native bf16 (elsewhere the same numbers, emulated, only slower).
    monkeypatch.setattr(full_resolution, "cpu_has_native_bf16", lambda: True)
    photos = [photo_like(h, w, seed) for seed, (h, w) in enumerate(MIXED[:4])]
    generator = colourful_unet(seed=1)
    passes = CountBatches(generator)
    fp32 = colorize_images(generator, photos, target_size=32, bf16=False)
    bf16 = colorize_images(generator, photos, target_size=32)  # the default

    assert [on for _, on in passes.calls] == [False] * 3 + [True] * 3
    assert not any(torch.equal(a, b) for a, b in zip(fp32, bf16, strict=True))  # bf16 did run
    lab32, lab16 = (torch.cat([colour_of(o).flatten(1) for o in out], dim=1) for out in (fp32, bf16))
    # The speed issue's criterion: mean |ΔL*| <= 0.5 between the bf16 and fp32 outputs.
    assert (lab16[0] - lab32[0]).abs().mean() <= 0.5
    # Where bf16 shows, if anywhere: the colour. Chroma here is ~25 a*b* units; 1 is a just-noticeable step.
    assert (lab16[1:] - lab32[1:]).norm(dim=0).mean() <= 1.0
    # Lightness stays the input's whatever the precision: the join uses the float32 L.
    for photo, out in zip(photos, bf16, strict=True):
        in_gamut = ((out > 0) & (out < 255)).all(dim=0)
        assert (lightness(out) - lightness(photo)).abs()[in_gamut].max() <= L_TOLERANCE


def test_bf16_off_is_the_float32_path_bit_for_bit():
    photo = photo_like(61, 97, seed=3)
    generator = colourful_unet(seed=2)
    passes = CountBatches(generator)
    out = colorize_image(generator, photo, target_size=32, bf16=False)

    # The module docstring's four steps, by hand, in float32 with no autocast anywhere.
    L = rgb_to_normalized_l(photo[None])
    L_small = F.interpolate(L, size=working_size(61, 97, 32, 4), mode="bilinear", antialias=True)
    with torch.no_grad():
        ab = F.interpolate(generator(L_small), size=(61, 97), mode="bilinear")
    expected = to_uint8_image(normalized_lab_to_rgb(L, ab))[0]
    assert torch.equal(out, expected)
    assert passes.calls[0] == (1, False)


def test_bf16_is_used_only_for_float32_generators(monkeypatch):
    monkeypatch.setattr(full_resolution, "cpu_has_native_bf16", lambda: True)
    generator = colourful_unet()
    assert bf16_is_used(generator) and not bf16_is_used(generator, enabled=False)
    assert not bf16_is_used(generator.double())  # autocast would leave float64 alone anyway
    out = colorize_image(TinyGenerator().double(), photo_like(20, 28), target_size=16)
    assert out.dtype == torch.uint8


def test_bf16_is_not_used_on_a_cpu_that_would_emulate_it(monkeypatch):
    # Without AVX-512 BF16 or AMX, bf16 autocast is ~7x slower than float32 (colorize/models/bf16.py).
    monkeypatch.setattr(full_resolution, "cpu_has_native_bf16", lambda: False)
    assert not bf16_is_used(colourful_unet())


def test_colorize_images_checks_every_photo_and_the_generator_batch():
    assert colorize_images(TinyGenerator(), [], target_size=8) == []
    with pytest.raises(ValueError, match=r"image 1 must have shape \(3, H, W\)"):
        colorize_images(TinyGenerator(), [photo_like(8, 8), torch.zeros(2, 8, 8)], target_size=8)

    class FirstOnly(TinyGenerator):
        def forward(self, L):
            return super().forward(L)[:1]

    with pytest.raises(ValueError, match=r"must return \(2, 2, 8, 8\) ab, got \(1, 2, 8, 8\)"):
        colorize_images(FirstOnly(), [photo_like(8, 8), photo_like(8, 8, 1)], target_size=8)


def test_large_groups_are_split_into_passes_of_at_most_max_pass_pixels():
    photos = [photo_like(h, w, seed) for seed, (h, w) in enumerate(MIXED)]
    generator = colourful_unet()
    passes = CountBatches(generator)
    whole = colorize_images(generator, photos, target_size=32, bf16=False, max_pass_pixels=10**9)
    split = colorize_images(generator, photos, target_size=32, bf16=False, max_pass_pixels=2 * 32 * 44)
    tiny = colorize_images(generator, photos, target_size=32, bf16=False, max_pass_pixels=1)

    sizes = [n for n, _ in passes.calls]
    assert sizes == [3, 1, 1] + [2, 1, 1, 1] + [1] * 5  # a photo larger than the limit still goes, alone
    for a, b, c in zip(whole, split, tiny, strict=True):
        assert (a.int() - b.int()).abs().max() <= 1 and (a.int() - c.int()).abs().max() <= 1
    assert CPU_PASS_PIXELS >= 256 * 384  # the CPU default still takes a 256 px model's photo in one pass
    with pytest.raises(ValueError, match="max_pass_pixels must be positive"):
        colorize_images(generator, photos, target_size=32, max_pass_pixels=0)
