"""colorize predict with videos: one film in, one out; a folder's films beside its photos; bad files skipped by name."""

import logging
import shutil
from pathlib import Path

import av
import pytest
from video_clips import audio_packets, write_clip

from colorize.cli import rewrite_arguments, run_cli
from colorize.inference.video_writer import ColorizedVideoWriter

CHECKPOINT = Path(__file__).resolve().parent.parent / "fixtures" / "before_regroup" / "last.ckpt"


def predict(tmp_path, *args):
    checkpoint = tmp_path / "last.ckpt"
    if not checkpoint.exists():
        shutil.copy(CHECKPOINT, checkpoint)
    run_cli(
        [
            "predict",
            *rewrite_arguments(["predict", f"--ckpt_path={checkpoint}", *args])[1:],
            f"--trainer.default_root_dir={tmp_path / 'run'}",
            "--trainer.logger=false",
            "--video.progress=false",
        ]
    )


def frame_count(path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_output_names_the_film_when_a_film_goes_in():
    argv = rewrite_arguments(["predict", "--input", "film.mp4", "--output", "film_color.mp4"])
    assert "--video.output" in argv and "--prediction.output_dir" not in argv
    argv = rewrite_arguments(["predict", "--input", "film.mp4", "--output", "colorized"])
    assert "--prediction.output_dir" in argv


@pytest.mark.slow
def test_predict_one_film_to_one_film(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the run folder may lie beside the film: nothing else is written
    write_clip(tmp_path / "film.mp4", frames=10, tone=True)
    predict(tmp_path, "--input", "film.mp4", "--output", "film_color.mp4")
    assert frame_count(tmp_path / "film_color.mp4") == 10
    assert audio_packets(tmp_path / "film_color.mp4") == audio_packets(tmp_path / "film.mp4")
    assert not list(tmp_path.glob(".*.part")) and not (tmp_path / "run" / "predictions").exists()


class Lines(logging.Handler):
    """The messages of one logger, whatever other tests did to the root logger's handlers or levels."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@pytest.mark.slow
def test_predict_a_folder_writes_films_beside_photos_and_skips_a_fake_by_name(tmp_path):
    from tiny_runs import make_photo

    inputs = tmp_path / "in"
    (inputs / "trip").mkdir(parents=True)
    write_clip(inputs / "trip" / "film.mkv", frames=8)
    make_photo(3).save(inputs / "photo.png")
    (inputs / "fake.mp4").write_text("not a film")
    logger, handler = logging.getLogger("colorize.inference.video_writer"), Lines()
    logger.addHandler(handler)
    try:
        predict(tmp_path, "--input", str(inputs), "--output", str(tmp_path / "out"), "--video.steady=off")
    finally:
        logger.removeHandler(handler)
    assert (tmp_path / "out" / "photo.png").is_file()
    assert frame_count(tmp_path / "out" / "trip" / "film.mp4") == 8
    assert not (tmp_path / "out" / "fake.mp4").exists()
    lines = [line for line in handler.lines if "fake.mp4" in line]
    assert len(lines) == 1 and lines[0].startswith("skipping video") and "\n" not in lines[0]


def test_options_are_checked_up_front():
    with pytest.raises(ValueError, match="video.steady"):
        ColorizedVideoWriter(steady=1.5)
    with pytest.raises(ValueError, match="out.gif"):
        ColorizedVideoWriter(output="out.gif")
    with pytest.raises(ValueError, match="video.key_interval"):
        ColorizedVideoWriter(key_interval=0)


def test_the_keyframe_interval_reaches_colorize_video_and_defaults_to_its_default(tmp_path, monkeypatch):
    import colorize.inference.video as video

    seen = {}

    def record(network, source, target, **options):
        seen.update(options)
        raise ValueError("recorded")  # the writer skips the film by name, as for any refused film

    monkeypatch.setattr(video, "colorize_video", record)
    writer = ColorizedVideoWriter(key_interval=5, progress=False)
    writer._one(object(), tmp_path / "film.mp4", tmp_path / "out.mp4", 32)
    assert seen["key_interval"] == 5 and writer.skipped == [str(tmp_path / "film.mp4")]
    # The writer's default (it imports no PyAV until there is a film) is colorize_video's.
    assert ColorizedVideoWriter().key_interval == video.KEY_INTERVAL
