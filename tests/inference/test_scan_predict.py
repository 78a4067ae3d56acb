"""16-bit scans through the real predict chain: datamodule -> ColorizationGAN.predict_step -> writer."""

import numpy as np
import pytest
import tifffile
import torch
from kornia.color import rgb_to_lab
from PIL import Image
from png_reader import read_png
from tiny_runs import colourful_unet, tiny_data, tiny_gan, tiny_trainer
from torch import nn

from colorize.inference.writer import ColorizedPhotoWriter


class Faint(nn.Module):
    """A seeded UNet's colour at a tenth of its strength: |a*|, |b*| <= 11, inside the sRGB gamut at L* 30-70."""

    def __init__(self) -> None:
        super().__init__()
        self.unet = colourful_unet(base_width=4)
        self.stride = self.unet.stride

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        return 0.1 * self.unet(L)


def scan_16(height: int = 40, width: int = 56) -> np.ndarray:
    """uint16 gray: a ramp over L* ~30-70 (sRGB 18000-45000) plus grain finer than an 8-bit level (257)."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(18000, 45000, width)[None].repeat(height, 0)
    return (ramp + rng.integers(-600, 601, (height, width))).astype(np.uint16)


def lightness(rgb: np.ndarray, maximum: float) -> torch.Tensor:
    """L* of (H, W, C) levels; gray is replicated."""
    values = torch.from_numpy(rgb.astype(np.float32) / maximum).permute(2, 0, 1)
    return rgb_to_lab(values.expand(3, -1, -1))[0]


def predict(tmp_path, inputs, output_format: str):
    gan = tiny_gan()
    gan.generator = Faint()
    data = tiny_data(inputs, tmp_path, predict_path=str(inputs))
    writer = ColorizedPhotoWriter(str(tmp_path / "out"), input_root=str(inputs), output_format=output_format)
    tiny_trainer(tmp_path, callbacks=[writer]).predict(gan, datamodule=data, return_predictions=False)


@pytest.mark.parametrize(("suffix", "output_format"), [(".png", "png"), (".tif", "tiff")])
def test_a_16_bit_scan_keeps_its_lightness_at_16_bits_and_its_dpi(tmp_path, suffix, output_format):
    inputs = tmp_path / "in"
    inputs.mkdir()
    gray = scan_16()
    if suffix == ".png":
        Image.fromarray(gray).save(inputs / f"scan{suffix}", dpi=(1200, 1200))
    else:
        tifffile.imwrite(inputs / f"scan{suffix}", gray, resolution=(1200, 1200), resolutionunit="INCH")
    predict(tmp_path, inputs, output_format)

    target = tmp_path / "out" / f"scan.{output_format}"
    if output_format == "png":
        rgb, chunks = read_png(target)
        with Image.open(target) as image:
            dpi = image.info["dpi"]
    else:
        rgb = tifffile.imread(target)
        with Image.open(target) as image:
            dpi = image.info["dpi"]
    assert rgb.shape == (40, 56, 3) and rgb.dtype == np.uint16
    assert dpi == pytest.approx((1200, 1200), abs=0.01)
    L_in = lightness(gray[..., None], 65535.0)
    assert (lightness(rgb, 65535.0) - L_in).abs().max() < 0.05
    # The tolerance tells 16 bits from 8: the same colour in 8 bits is off by up to ~0.2 L*.
    assert (lightness((rgb / 257.0).round(), 255.0) - L_in).abs().max() > 0.05
    # It is colour, not the input's gray (where R = G = B within 3 levels of 65535).
    assert np.abs(rgb.astype(np.int32)[..., 0] - rgb[..., 2]).max() > 100


def test_an_8_bit_photo_still_gives_an_8_bit_png(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.fromarray((scan_16() // 257).astype(np.uint8)).save(inputs / "old.png")
    predict(tmp_path, inputs, "png")
    with Image.open(tmp_path / "out" / "old.png") as image:
        assert image.mode == "RGB" and image.size == (56, 40) and "dpi" not in image.info


def test_output_format_is_an_option_of_predict_and_checked():
    from colorize.cli import rewrite_arguments

    rewritten = rewrite_arguments(["predict", "--output_format", "tiff"])
    assert rewritten == ["predict", "--prediction.output_format", "tiff"]
    with pytest.raises(ValueError, match="prediction.output_format must be one of"):
        ColorizedPhotoWriter("out", output_format="jpeg")


def test_a_tensor_prediction_can_be_written_as_tiff(tmp_path):
    image = torch.randint(0, 256, (3, 9, 11), dtype=torch.uint8)
    writer = ColorizedPhotoWriter(str(tmp_path / "out"), input_root=str(tmp_path / "in"), output_format="tiff")
    writer.write_on_batch_end(None, None, {"image": image, "path": str(tmp_path / "in" / "a.jpg")}, None, None, 0, 0)
    assert np.array_equal(tifffile.imread(tmp_path / "out" / "a.tiff"), image.permute(1, 2, 0).numpy())
