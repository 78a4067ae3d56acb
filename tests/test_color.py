"""colorize.color against an independent reference (scikit-image) and its own inverse."""

import numpy as np
import pytest
import torch
from skimage.color import rgb2lab

from colorize.color import (
    AB_SCALE,
    denormalize_lab,
    normalize_lab,
    normalized_lab_to_rgb,
    rgb_to_normalized_lab,
    to_uint8_image,
)

# Max |Δ| in L*, a*, b* units against skimage: far below a just-noticeable difference (~1-2).
LAB_TOLERANCE = 0.5


def _raw_lab(rgb: torch.Tensor) -> torch.Tensor:
    return denormalize_lab(*rgb_to_normalized_lab(rgb))


def _skimage_lab(rgb_uint8: np.ndarray) -> np.ndarray:
    """(N, 3) uint8 -> (N, 3) Lab via skimage (D65, 2° observer, like kornia)."""
    return rgb2lab(rgb_uint8.reshape(1, -1, 3).astype(np.float64) / 255.0).reshape(-1, 3)


def _as_image(colors: np.ndarray) -> torch.Tensor:
    """(N, 3) uint8 colors -> (3, 1, N) tensor image."""
    return torch.from_numpy(colors).T.unsqueeze(1).contiguous()


def test_matches_skimage_on_random_colors():
    colors = np.random.default_rng(0).integers(0, 256, size=(4096, 3), dtype=np.uint8)
    ours = _raw_lab(_as_image(colors)).squeeze(1).T.numpy()
    assert np.abs(ours - _skimage_lab(colors)).max() < LAB_TOLERANCE


# Reference values: CIE L*a*b* (D65) of the sRGB primaries and neutrals, as tabulated by Lindbloom.
NAMED = {
    "black": ((0, 0, 0), (0.0, 0.0, 0.0)),
    "white": ((255, 255, 255), (100.0, 0.0, 0.0)),
    "mid gray": ((128, 128, 128), (53.59, 0.0, 0.0)),
    "red": ((255, 0, 0), (53.24, 80.09, 67.20)),
    "green": ((0, 255, 0), (87.73, -86.18, 83.18)),
    "blue": ((0, 0, 255), (32.30, 79.19, -107.86)),
    "yellow": ((255, 255, 0), (97.14, -21.55, 94.48)),
}


@pytest.mark.parametrize("name", NAMED)
def test_named_colors(name):
    rgb, expected = NAMED[name]
    colors = np.array([rgb], dtype=np.uint8)
    ours = _raw_lab(_as_image(colors)).flatten().numpy()
    np.testing.assert_allclose(ours, _skimage_lab(colors)[0], atol=LAB_TOLERANCE)
    np.testing.assert_allclose(ours, expected, atol=LAB_TOLERANCE)


def test_uint8_and_float_inputs_agree():
    rgb = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    for a, b in zip(rgb_to_normalized_lab(rgb), rgb_to_normalized_lab(rgb.float() / 255), strict=True):
        torch.testing.assert_close(a, b)


def test_normalized_ranges_over_the_rgb_cube():
    corners = torch.tensor([[r, g, b] for r in (0, 255) for g in (0, 255) for b in (0, 255)], dtype=torch.uint8)
    L, ab = rgb_to_normalized_lab(corners.T.unsqueeze(1))
    assert L.shape == (1, 1, 8) and ab.shape == (2, 1, 8)
    assert L.min() >= -1 - 1e-5 and L.max() <= 1 + 1e-5
    assert ab.abs().max() <= 1.0  # the sRGB gamut fits inside ±AB_SCALE
    assert ab.abs().max() > 0.9  # ... and uses most of it
    assert AB_SCALE == 110.0


def test_normalization_round_trip():
    lab = torch.stack([torch.rand(4, 5) * 100, torch.rand(4, 5) * 200 - 100, torch.rand(4, 5) * 200 - 100])
    torch.testing.assert_close(denormalize_lab(*normalize_lab(lab)), lab)


def test_rgb_lab_rgb_round_trip():
    rgb = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8)
    back = normalized_lab_to_rgb(*rgb_to_normalized_lab(rgb))
    assert back.dtype == torch.float32 and back.shape == rgb.shape
    assert (to_uint8_image(back).int() - rgb.int()).abs().max() <= 1


def test_lab_rgb_lab_round_trip():
    # Lab values of in-gamut colors, so the clip inside lab->rgb does not apply.
    L, ab = rgb_to_normalized_lab(torch.rand(2, 3, 16, 16) * 0.9 + 0.05)
    L2, ab2 = rgb_to_normalized_lab(normalized_lab_to_rgb(L, ab))
    torch.testing.assert_close(L2, L, atol=1e-4, rtol=0)
    torch.testing.assert_close(ab2, ab, atol=1e-4, rtol=0)


def test_wrong_channel_count_raises():
    with pytest.raises(ValueError, match=r"\(\*, 3, H, W\)"):
        rgb_to_normalized_lab(torch.zeros(1, 4, 8, 8))
    with pytest.raises(ValueError, match="ab"):
        denormalize_lab(torch.zeros(1, 1, 8, 8), torch.zeros(1, 3, 8, 8))
