"""The prediction writer: outputs named after inputs, folders kept, inputs never overwritten."""

import logging
import os

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from PIL import Image
from tiny_runs import colourful_unet, tiny_data, tiny_gan, tiny_trainer
from torch.utils.data import DataLoader

from colorize.inference.full_resolution import colorize_image
from colorize.inference.writer import ColorizedPhotoWriter, output_names


def image(value: int = 7) -> torch.Tensor:
    return torch.full((3, 5, 4), value, dtype=torch.uint8)


def write(writer: ColorizedPhotoWriter, prediction) -> None:
    writer.write_on_batch_end(None, None, prediction, None, None, 0, 0)


def files(root) -> list[str]:
    """Every file below ``root``, hidden ones included, as sorted relative paths."""
    return sorted(
        os.path.relpath(os.path.join(folder, name), root) for folder, _, names in os.walk(root) for name in names
    )


def test_keeps_relative_folders_and_names(tmp_path):
    inputs, outputs = tmp_path / "photos", tmp_path / "out"
    (inputs / "trip").mkdir(parents=True)
    writer = ColorizedPhotoWriter(str(outputs), input_root=str(inputs))
    write(writer, {"image": image(1), "path": str(inputs / "a.jpg")})
    write(writer, {"image": image(2), "path": str(inputs / "trip" / "b.JPEG")})

    assert files(outputs) == ["a.png", os.path.join("trip", "b.png")]
    pixels = np.array(Image.open(outputs / "trip" / "b.png"))
    assert pixels.shape == (5, 4, 3) and (pixels == 2).all()
    assert writer.num_written == 2


def test_without_root_keeps_only_the_name(tmp_path):
    writer = ColorizedPhotoWriter(str(tmp_path / "out"))
    write(writer, {"image": image()[None], "path": [str(tmp_path / "in" / "x.webp")]})  # collated form
    assert files(tmp_path / "out") == ["x.png"]


@pytest.mark.parametrize("inside", ["", "colorized"])
def test_refuses_output_in_the_input_folder(tmp_path, inside):
    photo = tmp_path / "photo.png"
    output_dir = tmp_path / inside
    with pytest.raises(ValueError, match="input folder") as err:
        ColorizedPhotoWriter(str(output_dir), input_root=str(tmp_path))
    assert str(output_dir.resolve()) in str(err.value) and str(tmp_path.resolve()) in str(err.value)

    writer = ColorizedPhotoWriter(str(output_dir))  # no root: the input's own folder is checked
    with pytest.raises(ValueError, match="could overwrite"):
        write(writer, {"image": image(), "path": str(photo)})
    assert files(tmp_path) == []


def test_an_input_outside_the_root_is_skipped_by_name_and_the_run_goes_on(tmp_path, caplog):
    writer = ColorizedPhotoWriter(str(tmp_path / "out"), input_root=str(tmp_path / "in"))
    with pytest.raises(ValueError, match="not inside input_root"):
        writer.output_path(str(tmp_path / "elsewhere.jpg"))
    (tmp_path / "in").mkdir()
    with caplog.at_level(logging.WARNING):
        paths = [str(tmp_path / "elsewhere.jpg"), str(tmp_path / "in" / "a.jpg")]
        write(writer, {"image": torch.stack([image(), image()]), "path": paths})
    assert "elsewhere.jpg" in caplog.text and files(tmp_path / "out") == ["a.png"]


def test_inputs_sharing_a_stem_each_get_their_own_predictable_name(tmp_path):
    names = output_names(["IMG_001.JPG", "IMG_001.png", "trip/cat.jpg", "trip/Cat.tiff", "dog.bmp", "dog.jpg.png"])
    assert {k.as_posix(): v.as_posix() for k, v in names.items()} == {
        "IMG_001.JPG": "IMG_001.JPG.png",
        "IMG_001.png": "IMG_001.png.png",
        "trip/Cat.tiff": "trip/Cat.tiff.png",  # stems compared ignoring case: distinct on any disk
        "trip/cat.jpg": "trip/cat.jpg.png",
        "dog.bmp": "dog.png",
        "dog.jpg.png": "dog.jpg.png",
    }
    taken = output_names(["a.jpg", "a.png", "a.jpg.png"])  # an input already named like a disambiguated output
    assert sorted(v.as_posix() for v in taken.values()) == ["a.jpg-2.png", "a.jpg.png", "a.png.png"]


def test_a_planned_run_writes_every_photo_of_a_mixed_folder(tmp_path):
    inputs = tmp_path / "in"
    paths = [inputs / "cat.jpg", inputs / "cat.png", inputs / "sub" / "cat.jpg"]
    writer = ColorizedPhotoWriter(str(tmp_path / "out"), input_root=str(inputs))
    writer.plan(paths)
    for value, path in enumerate(paths, start=1):
        write(writer, {"image": image(value), "path": str(path)})
    assert files(tmp_path / "out") == ["cat.jpg.png", "cat.png.png", os.path.join("sub", "cat.png")]
    assert (np.array(Image.open(tmp_path / "out" / "cat.png.png")) == 2).all()


def test_unplanned_collisions_never_overwrite(tmp_path):
    writer = ColorizedPhotoWriter(str(tmp_path / "out"), input_root=str(tmp_path / "in"))
    write(writer, {"image": image(1), "path": str(tmp_path / "in" / "cat.jpg")})
    write(writer, {"image": image(2), "path": str(tmp_path / "in" / "cat.png")})
    assert files(tmp_path / "out") == ["cat.png", "cat.png.png"]
    assert (np.array(Image.open(tmp_path / "out" / "cat.png")) == 1).all()  # the first one survives


def test_atomic_write_leaves_no_temp_file(tmp_path, monkeypatch):
    outputs = tmp_path / "out"
    writer = ColorizedPhotoWriter(str(outputs), input_root=str(tmp_path / "in"))
    write(writer, [{"image": image(), "path": str(tmp_path / "in" / n)} for n in ("a.jpg", "b.jpg")])
    assert files(outputs) == ["a.png", "b.png"]

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", fail)
    with pytest.raises(OSError):
        write(writer, {"image": image(), "path": str(tmp_path / "in" / "c.jpg")})
    assert files(outputs) == ["a.png", "b.png"]


class _Echo(pl.LightningModule):
    """predict_step returns what the lead's module will: one photo and its path."""

    def predict_step(self, batch, batch_idx):
        return {"image": batch["image"][0], "path": batch["path"][0]}


def test_runs_in_lightning_predict_and_logs_a_summary(tmp_path, caplog):
    inputs = [{"image": image(i), "path": str(tmp_path / "in" / f"{i}.jpg")} for i in range(3)]
    writer = ColorizedPhotoWriter(str(tmp_path / "out"), input_root=str(tmp_path / "in"))
    trainer = pl.Trainer(
        accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False, callbacks=[writer]
    )
    with caplog.at_level(logging.INFO, logger="colorize.inference.writer"):
        trainer.predict(_Echo(), DataLoader(inputs, batch_size=1), return_predictions=False)
    assert files(tmp_path / "out") == ["0.png", "1.png", "2.png"]
    assert f"wrote 3 colorized photo(s) to {(tmp_path / 'out').resolve()}" in caplog.text


def test_output_dir_set_later_is_checked_too(tmp_path):
    writer = ColorizedPhotoWriter(input_root=str(tmp_path / "in"))
    with pytest.raises(ValueError, match="not set"):
        write(writer, {"image": image(), "path": str(tmp_path / "in" / "a.jpg")})
    with pytest.raises(ValueError, match="input folder"):
        writer.output_dir = tmp_path / "in" / "out"
    writer.output_dir = tmp_path / "out"
    write(writer, {"image": image(), "path": str(tmp_path / "in" / "a.jpg")})
    assert files(tmp_path / "out") == ["a.png"]


def test_a_single_photo_as_root_stands_for_its_folder(tmp_path):
    photo = tmp_path / "in" / "a.jpg"
    photo.parent.mkdir()
    photo.write_bytes(b"not read")
    with pytest.raises(ValueError, match="input folder"):
        ColorizedPhotoWriter(str(tmp_path / "in"), input_root=str(photo))
    writer = ColorizedPhotoWriter(str(tmp_path / "out"), input_root=str(photo))
    write(writer, {"image": image(), "path": str(photo)})
    assert files(tmp_path / "out") == ["a.png"] and photo.read_bytes() == b"not read"


def test_the_gan_predicts_a_mixed_folder_in_batches_like_one_photo_at_a_time(tmp_path):
    """The real chain: datamodule batches of mixed sizes -> ColorizationGAN.predict_step -> writer."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    sizes = {"a.png": (24, 32), "b.png": (30, 20), "c.png": (24, 32), "d.png": (25, 33), "e.png": (40, 30)}
    rng = np.random.default_rng(0)
    for name, (height, width) in sizes.items():
        Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(inputs / name)
    (inputs / "f.jpg").write_bytes(b"not a photo")
    gan = tiny_gan()
    gan.generator = colourful_unet(base_width=4)
    batch_sizes = []
    gan.generator.register_forward_hook(lambda module, args, output: batch_sizes.append(args[0].shape[0]))
    data = tiny_data(inputs, tmp_path, predict_path=str(inputs), predict_batch_size=4)
    writer = ColorizedPhotoWriter(str(tmp_path / "out"), input_root=str(inputs))
    tiny_trainer(tmp_path, callbacks=[writer]).predict(gan, datamodule=data, return_predictions=False)

    # Batch 1 is a-d: a, c and d share a working size (32 x 44 at 32 px); batch 2 is e (f is unreadable).
    assert batch_sizes == [3, 1, 1]
    assert files(tmp_path / "out") == [name for name in sizes]
    for name, (height, width) in sizes.items():
        written = torch.from_numpy(np.array(Image.open(tmp_path / "out" / name))).permute(2, 0, 1)
        photo = torch.from_numpy(np.array(Image.open(inputs / name))).permute(2, 0, 1)
        alone = colorize_image(gan.colorizing_generator, photo, target_size=32)
        assert written.shape == (3, height, width) and (written.int() - alone.int()).abs().max() <= 1
