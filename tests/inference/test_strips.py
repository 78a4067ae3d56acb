"""Strip-wise full-resolution colour: equal to the whole-image path, no seams at strip borders."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from colorize.color import normalized_lab_to_rgb, rgb_to_normalized_l, to_uint8_image
from colorize.inference.full_resolution import ColorizedPhoto, colorize_photos
from colorize.inference.strips import strip_lightness, upsample_ab_rows, working_lightness


def whole_image_colour(image: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """The path before strips: the whole photo's L, ab upsampled at once, one Lab -> RGB join."""
    rgb = image.expand(3, -1, -1).unsqueeze(0)
    rgb = rgb.float() / 65535.0 if rgb.dtype == torch.uint16 else rgb
    L = rgb_to_normalized_l(rgb)
    ab = F.interpolate(ab, size=L.shape[-2:], mode="bilinear", align_corners=False)
    return to_uint8_image(normalized_lab_to_rgb(L, ab))[0]


class EdgeGenerator(nn.Module):
    """Sharp colour edges: ab jumps between saturated opposite colours every 3 working-size columns and rows."""

    stride = 8

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        h, w = L.shape[-2:]
        rows = (torch.arange(h) // 3 % 2).view(h, 1)
        cols = (torch.arange(w) // 3 % 2).view(1, w)
        a = torch.where((rows + cols) % 2 == 1, 0.6, -0.6).expand(h, w)
        b = torch.where(rows == 1, -0.5, 0.5).expand(h, w)
        return torch.stack([a, b]).unsqueeze(0).expand(L.shape[0], -1, -1, -1).to(L)


def edges_photo(height: int, width: int) -> torch.Tensor:
    """uint8 (1, H, W) gray with hard lightness edges (bars 37 px apart) and noise."""
    g = torch.Generator().manual_seed(0)
    bars = ((torch.arange(height).view(-1, 1) // 37 + torch.arange(width).view(1, -1) // 53) % 2) * 120 + 60
    noise = torch.randint(-20, 21, (height, width), generator=g)
    return (bars + noise).clamp(0, 255).to(torch.uint8).unsqueeze(0)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.uint16])
def test_working_lightness_is_the_whole_photos_antialiased_resize(channels, dtype):
    g = torch.Generator().manual_seed(1)
    image = torch.randint(0, 256 if dtype == torch.uint8 else 65536, (channels, 301, 411), generator=g).to(dtype)
    whole = strip_lightness(image)
    expected = F.interpolate(whole, size=(64, 88), mode="bilinear", antialias=True, align_corners=False)
    for rows in (17, 300, 1000):  # 17 does not divide 301; 1000 is one strip
        small = working_lightness(image, (64, 88), rows=rows)
        if channels == 1:  # a lookup table per level: the same numbers whatever the strip
            assert torch.equal(small, expected)
        else:  # kornia's colour matrix blocks its sums by size: float rounding only
            assert (small - expected).abs().max() < 1e-6


def test_gray_lookup_table_equals_the_lab_conversion():
    levels = torch.arange(256, dtype=torch.uint8).view(1, 16, 16)
    assert torch.equal(strip_lightness(levels), rgb_to_normalized_l(levels.expand(3, -1, -1).unsqueeze(0)))
    deep = torch.arange(65536, dtype=torch.int32).view(1, 256, 256).to(torch.uint16)
    expected = rgb_to_normalized_l((deep.float() / 65535.0).expand(3, -1, -1).unsqueeze(0))
    assert torch.equal(strip_lightness(deep), expected)


def test_upsampled_rows_join_into_the_whole_upsampling():
    ab = torch.rand(1, 2, 16, 24, generator=torch.Generator().manual_seed(2)) * 2 - 1
    expected = F.interpolate(ab, size=(333, 500), mode="bilinear", align_corners=False)
    for rows in (1, 7, 100, 333):
        joined = torch.cat([upsample_ab_rows(ab, t, min(t + rows, 333), 333, 500) for t in range(0, 333, rows)], -2)
        assert joined.shape == expected.shape and (joined - expected).abs().max() < 1e-5


@pytest.mark.slow  # ~10 s on 2 free cores: the whole-image reference alone is ~2 GB of float32 temporaries
def test_a_12_megapixel_photo_in_strips_equals_the_whole_image_path_within_one_level():
    """Colour edges cross every strip border (ab flips every 3 working pixels); strips of 997 and 1500 rows."""
    image = edges_photo(3000, 4000)
    (photo,) = colorize_photos(EdgeGenerator(), [image], target_size=64, strip_rows=997)
    expected = whole_image_colour(image, photo.ab)
    for rows in (997, 1500):
        out = ColorizedPhoto(image, photo.ab, rows=rows).to_uint8()
        difference = (out.int() - expected.int()).abs()
        assert difference.max() <= 1
        assert (difference > 0).float().mean() < 1e-3  # rounding ties, not a shifted colour field
    # The colour edges are real: 100 rows apart around the first strip border, the colour has flipped.
    assert (expected[:, 996].int() - expected[:, 1100].int()).abs().max() > 40


def test_sixteen_bit_levels_keep_the_lightness_at_sixteen_bit_precision():
    deep = torch.linspace(9000, 60000, 300 * 200).round().to(torch.int32).view(1, 300, 200).to(torch.uint16)
    ab = torch.zeros(1, 2, 8, 8)
    photo = ColorizedPhoto(deep, ab, rows=77)
    assert photo.bits == 16
    bands = list(photo.levels())
    assert [b.shape[0] for b in bands] == [77, 77, 77, 69] and all(b.dtype.name == "uint16" for b in bands)
    gray = torch.from_numpy(np.concatenate(bands)).permute(2, 0, 1)
    # ab = 0: R = G = B, and an sRGB gray level maps to itself, up to float32's round trip through
    # Lab (cube roots and cubes: ~3e-5, 2 levels of 65535, 0.003 L*); 8 bits would be 257 levels apart.
    assert (gray.int() - deep.int()).abs().max() <= 3
