"""Full-resolution inference: working-size arithmetic, size and lightness kept."""

import pytest
import torch
import torch.nn.functional as F
from kornia.color import rgb_to_lab
from torch import nn

from colorize.inference import colorize_image, working_size

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
