"""benchmarks/train_step.py: the FLOP count that the benchmarks' TFLOP/s rest on."""

import pytest

from benchmarks.train_step import count_flops


def test_flop_count_scales_with_the_batch_and_the_image_area():
    base = count_flops("ResNet18 UNet", 64, 2)
    assert base > 0
    assert count_flops("ResNet18 UNet", 64, 4) == 2 * base
    # convolutions cost per output pixel: twice the side is about four times the work (not exactly: the
    # PatchGAN's unpadded last layers map 64 px to 6×6 patches and 128 px to 14×14)
    assert count_flops("ResNet18 UNet", 128, 2) / base == pytest.approx(4, rel=0.1)
