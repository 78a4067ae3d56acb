"""Random resized crops on the device (colorize.data.augment): real crops of the drawn size and shape."""

import pytest
import torch

from colorize.data.augment import random_resized_crops


def _coordinates(n: int, side: int) -> torch.Tensor:
    """Channel 0 holds each pixel's column index, channel 1 its row: crops reveal where they were taken."""
    y, x = torch.meshgrid(
        torch.arange(side, dtype=torch.float32), torch.arange(side, dtype=torch.float32), indexing="ij"
    )
    return torch.stack([x, y, x + y]).expand(n, -1, -1, -1).clone()


def test_full_crop_at_the_same_size_is_the_image():
    images = torch.randint(0, 256, (3, 3, 24, 24), dtype=torch.uint8)
    out = random_resized_crops(images, 24, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    assert out.dtype == torch.uint8 and torch.equal(out, images)


def test_crops_have_the_drawn_area_and_aspect_and_lie_inside():
    side, size, n = 64, 16, 256
    out = random_resized_crops(_coordinates(n, side), size, scale=(0.3, 0.6), ratio=(3 / 4, 4 / 3))
    assert out.shape == (n, 3, size, size)
    # Bilinear sampling of a linear ramp is exact: interior columns step by crop_width / size.
    width = (out[:, 0, size // 2, size - 2] - out[:, 0, size // 2, 1]) * size / (size - 3)
    height = (out[:, 1, size - 2, size // 2] - out[:, 1, 1, size // 2]) * size / (size - 3)
    area = width * height / side**2
    assert area.min() >= 0.3 - 0.01 and area.max() <= 0.6 + 0.01
    aspect = width / height
    assert aspect.min() >= 0.75 - 0.01 and aspect.max() <= 4 / 3 + 0.01
    assert out.min() >= 0 and out[:, :2].max() <= side - 1  # never samples outside the photo
    # Different photos get different crops, spread over the whole allowed range.
    assert area.max() - area.min() > 0.2 and out[:, 0, 0, 0].std() > 3


def test_downscaling_averages_instead_of_aliasing():
    # A one-pixel checkerboard shrunk 4x must come out flat gray, not as a moiré of black and white.
    board = ((torch.arange(64).view(-1, 1) + torch.arange(64).view(1, -1)) % 2 * 255).to(torch.uint8)
    out = random_resized_crops(board.expand(2, 3, -1, -1), 16, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    assert (out.float() - 127.5).abs().max() <= 1


def test_reproducible_with_a_generator_and_rejects_bad_input():
    images = _coordinates(4, 32)
    a = random_resized_crops(images, 8, generator=torch.Generator().manual_seed(3))
    b = random_resized_crops(images, 8, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="shape"):
        random_resized_crops(images[0], 8)
    with pytest.raises(ValueError, match="scale"):
        random_resized_crops(images, 8, scale=(0.5, 0.2))
