"""find_videos: films are found by name, sorted, hidden files ignored; photos are not videos."""

import pytest

from colorize.data.videos import find_videos, is_video_path


def test_find_videos_sorted_recursive_and_not_hidden(tmp_path):
    for name in ("b/clip.MOV", "a.mp4", "photo.jpg", ".hidden.mp4", ".cache/x.mkv", "notes.txt", "c/d.webm"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert [p.relative_to(tmp_path).as_posix() for p in find_videos(tmp_path)] == ["a.mp4", "b/clip.MOV", "c/d.webm"]
    assert find_videos(tmp_path / "a.mp4") == [tmp_path / "a.mp4"]
    assert find_videos(tmp_path / "photo.jpg") == []
    assert is_video_path("FILM.MKV") and not is_video_path("film.png")


def test_missing_input_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        find_videos(tmp_path / "nowhere")
