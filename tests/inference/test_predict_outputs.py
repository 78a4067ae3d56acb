"""``colorize predict`` never replaces a file it did not write in this run, and a symlinked photo never stops it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from tiny_runs import make_photo

from colorize.cli import run_cli
from colorize.inference.writer import ColorizedPhotoWriter

EXPORT = Path(__file__).resolve().parent.parent / "fixtures" / "before_regroup" / "tiny_before_regroup.safetensors"


def predict(tmp_path: Path, inputs: Path, output: Path, *extra: str) -> None:
    run_cli(
        [
            "predict",
            "--ckpt_path",
            str(EXPORT),
            "--input",
            str(inputs),
            "--output",
            str(output),
            "--trainer.logger=false",
            f"--trainer.default_root_dir={tmp_path / 'run'}",
            "--data.num_workers=0",
            *extra,
        ]
    )


def test_predict_refuses_to_replace_an_existing_output_unless_told(tmp_path):
    photos = tmp_path / "photos" / "bw"
    photos.mkdir(parents=True)
    make_photo(0).save(photos / "cat.jpg")
    make_photo(1).save(photos / "dog.jpg")
    # --input ~/photos/bw --output ~/photos: ~/photos/cat.png is someone's own photo.
    mine = tmp_path / "photos" / "cat.png"
    make_photo(2).save(mine)
    before = mine.read_bytes()
    with pytest.raises(SystemExit, match=r"1 output\(s\) already exist: .*cat\.png.*--overwrite") as caught:
        predict(tmp_path, photos, tmp_path / "photos")
    assert "\n" not in str(caught.value)
    assert mine.read_bytes() == before and not (tmp_path / "photos" / "dog.png").exists()  # nothing written

    predict(tmp_path, photos, tmp_path / "photos", "--overwrite")
    assert mine.read_bytes() != before and (tmp_path / "photos" / "dog.png").is_file()


def test_the_writer_refuses_existing_outputs_before_writing_any(tmp_path):
    (tmp_path / "in").mkdir()
    inputs = [tmp_path / "in" / "a.jpg", tmp_path / "in" / "b.jpg"]
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "b.png").write_bytes(b"mine")
    writer = ColorizedPhotoWriter(str(tmp_path / "out"), input_root=str(tmp_path / "in"))
    with pytest.raises(FileExistsError, match="b.png"):
        writer.refuse_existing(inputs)
    ColorizedPhotoWriter(str(tmp_path / "out"), input_root=str(tmp_path / "in"), overwrite=True).refuse_existing(inputs)


def test_a_symlinked_photo_is_colorized_like_any_file(tmp_path, caplog):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    make_photo(3).save(elsewhere / "far.jpg")
    photos = tmp_path / "photos"
    photos.mkdir()
    make_photo(4).save(photos / "near.jpg")
    (photos / "linked.jpg").symlink_to(elsewhere / "far.jpg")
    (photos / "dangling.jpg").symlink_to(elsewhere / "gone.jpg")
    with caplog.at_level(logging.WARNING):
        predict(tmp_path, photos, tmp_path / "out")
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["linked.png", "near.png"]
    assert "dangling.jpg" in caplog.text  # skipped by name, like any unreadable file
    assert sorted(p.name for p in elsewhere.iterdir()) == ["far.jpg"]
