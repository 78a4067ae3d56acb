"""colorize_video: a film in, a colorized film out, with its timing, rotation, sound and lightness kept."""

import logging

import av
import numpy as np
import pytest
import torch
from tiny_runs import colourful_unet
from torch import nn
from video_clips import audio_packets, read_frames, write_clip

from colorize.color import rgb_to_normalized_l
from colorize.inference.video import NotAVideoError, colorize_video


class ConstantColour(nn.Module):
    """Predicts one a*b* everywhere: the output's colour is known, so its lightness can be checked alone."""

    def __init__(self, ab: float = 0.0):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.ab = ab

    def forward(self, L):
        return torch.full((L.shape[0], 2, *L.shape[2:]), self.ab) + 0 * self.weight


def lightness(frames) -> torch.Tensor:
    return (rgb_to_normalized_l(torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)) + 1) * 50


def test_audio_packets_frame_count_rate_size_and_rotation_are_kept(tmp_path):
    source, target = tmp_path / "film.mp4", tmp_path / "out" / "film_color.mp4"
    write_clip(source, frames=14, height=48, width=80, fps=24, tone=True, rotation=90)
    result = colorize_video(colourful_unet(), source, target, target_size=32, batch_size=4)
    assert result.frames == 14 and result.broken is None and result.copied_streams == 1
    with av.open(str(source)) as a, av.open(str(target)) as b:
        va, vb = a.streams.video[0], b.streams.video[0]
        assert (vb.frames, vb.average_rate, vb.width, vb.height) == (14, 24, 80, 48)
        assert (va.frames, va.average_rate) == (vb.frames, vb.average_rate)
        assert next(b.decode(video=0)).rotation == 90
    packets = audio_packets(source)
    assert len(packets) > 5 and audio_packets(target) == packets  # byte for byte
    colour = np.stack(read_frames(target)).astype(int)
    assert np.abs(colour[..., 0] - colour[..., 2]).mean() > 5  # it is colorized, not copied


@pytest.mark.parametrize("ab", [0.0, 0.1])
def test_output_lightness_is_the_input_frames(tmp_path, ab):
    source, target = tmp_path / "film.mp4", tmp_path / "film_color.mp4"
    write_clip(source, frames=6, height=64, width=96)
    colorize_video(ConstantColour(ab), source, target, target_size=32, steady=0, crf=0)
    difference = (lightness(read_frames(source)) - lightness(read_frames(target))).abs()
    # Gray: only YUV rounding; coloured: also 4:2:0 chroma subsampling. A working-size L would be ~6 off on average.
    assert difference.mean() < (0.3 if ab == 0 else 1.0)
    assert difference.max() < (1.0 if ab == 0 else 6.0)


def test_not_a_video_raises_naming_the_file_and_writes_nothing(tmp_path):
    fake = tmp_path / "notes.mp4"
    fake.write_text("not a film")
    with pytest.raises(NotAVideoError, match="notes.mp4"):
        colorize_video(colourful_unet(), fake, tmp_path / "out.mp4", target_size=32)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.mp4"]


def test_truncated_video_is_colorized_up_to_the_break_with_one_line(tmp_path, caplog):
    source = tmp_path / "film.mp4"
    write_clip(source, frames=40, container_options={"movflags": "faststart"})  # the index first, then the frames
    data = source.read_bytes()
    source.write_bytes(data[: len(data) * 7 // 10])
    with caplog.at_level(logging.WARNING, logger="colorize.inference.video"):
        result = colorize_video(colourful_unet(), source, tmp_path / "out.mp4", target_size=32)
    assert 0 < result.frames < 40 and len(read_frames(tmp_path / "out.mp4")) == result.frames
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "film.mp4" in lines[0] and f"after frame {result.frames}" in lines[0]


class SharedList(list):
    """A record that the copy colorize_video colours with (fold_batch_norms deep-copies) shares with the test."""

    def __deepcopy__(self, memo):
        return self


class FailsOnCall(nn.Module):
    """Colours like colourful_unet, then fails on its ``fail_at``-th call, checking the files on the way."""

    def __init__(self, target, fail_at: int):
        super().__init__()
        self.net, self.target, self.fail_at, self.seen_parts = colourful_unet(), target, fail_at, SharedList()
        self.stride = self.net.stride

    def forward(self, L):
        self.seen_parts.append(sorted(p.name for p in self.target.parent.glob(f".{self.target.name}.*.part")))
        if len(self.seen_parts) == self.fail_at:
            raise RuntimeError("killed")
        return self.net(L)


def test_output_is_written_under_a_temporary_name_and_a_failed_run_leaves_the_old_file(tmp_path):
    source, target = tmp_path / "film.mp4", tmp_path / "film_color.mp4"
    write_clip(source, frames=48, height=32, width=32)
    target.write_bytes(b"an earlier result")
    # Late enough that x264 (which holds ~20 frames for its look-ahead) has written packets, hence the file.
    network = FailsOnCall(target, fail_at=20)
    with pytest.raises(RuntimeError, match="killed"):
        colorize_video(network, source, target, target_size=32, batch_size=2, key_interval=1)
    assert any(network.seen_parts), "frames were encoded into a hidden .part file while running"
    assert target.read_bytes() == b"an earlier result"
    assert not list(tmp_path.glob(".*.part"))
    colorize_video(colourful_unet(), source, target, target_size=32)
    assert len(read_frames(target)) == 48 and not list(tmp_path.glob(".*.part"))


@pytest.mark.parametrize("interval", [1, 3])
def test_frames_are_streamed_not_held(tmp_path, interval):
    source = tmp_path / "film.mp4"
    write_clip(source, frames=80, height=32, width=32)
    out = tmp_path / "out.mp4"
    result = colorize_video(
        colourful_unet(), source, out, target_size=32, batch_size=2, queue_batches=1, key_interval=interval
    )
    assert result.frames == 80
    # Two queues of one batch (2 keyframes and the frames between), the batch being colorized, the frames the
    # carrier holds until their later keyframe, one frame in each thread's hands.
    batch = 2 * interval
    assert result.max_in_flight <= batch + batch + batch + (interval - 1) + 2


def test_a_scene_cut_is_found_and_steadying_off_finds_none(tmp_path):
    source = tmp_path / "film.mp4"
    write_clip(source, frames=16, height=64, width=96, cut_at=9)
    steadied = colorize_video(colourful_unet(), source, tmp_path / "a.mp4", target_size=64, steady=0.8)
    plain = colorize_video(colourful_unet(), source, tmp_path / "b.mp4", target_size=64, steady=0)
    assert steadied.cuts == (9,) and plain.cuts == ()


def test_unsupported_output_suffix_is_refused_before_reading(tmp_path):
    with pytest.raises(ValueError, match="out.gif"):
        colorize_video(colourful_unet(), tmp_path / "missing.mp4", tmp_path / "out.gif", target_size=32)


def test_the_callers_network_is_left_as_it_was_and_the_film_is_its_eval_colour(tmp_path):
    source = tmp_path / "film.mp4"
    write_clip(source, frames=4, height=32, width=32)
    network = colourful_unet().train()
    for m in network.modules():  # running statistics a folded norm must reproduce
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 2.0)
    before = {k: v.clone() for k, v in network.state_dict().items()}
    colorize_video(network, source, tmp_path / "a.mp4", target_size=32, steady=0, crf=0, bf16=False)
    assert network.training
    assert all(torch.equal(v, before[k]) for k, v in network.state_dict().items())
    assert all(p.is_contiguous() for p in network.parameters())  # not switched to channels-last in place
    frames = np.stack(read_frames(tmp_path / "a.mp4")).astype(int)
    expected_ab = network.eval()(
        rgb_to_normalized_l(torch.from_numpy(np.stack(read_frames(source))).permute(0, 3, 1, 2))
    )
    assert np.abs(frames[..., 0] - frames[..., 2]).mean() > 5 and expected_ab.abs().mean() > 0.05


def test_compiling_runs_one_batch_shape_and_a_failed_compile_falls_back_to_eager(tmp_path, monkeypatch, caplog):
    import colorize.inference.video as video

    source = tmp_path / "film.mp4"
    write_clip(source, frames=7, height=32, width=32)  # batches of 4: the last has 3 frames, padded to 4
    shapes, compiled = [], []

    def fake_compile(network, **kwargs):
        compiled.append(kwargs)

        def run(L):
            shapes.append(tuple(L.shape))
            return network(L)

        return run

    monkeypatch.setattr(video.torch, "compile", fake_compile)
    eager = colorize_video(colourful_unet(), source, tmp_path / "e.mp4", target_size=32, steady=0, crf=0)
    assert not compiled and not eager.compiled  # auto: a 7-frame film is not worth a compilation
    result = colorize_video(
        colourful_unet(), source, tmp_path / "c.mp4", target_size=32, steady=0, crf=0, compile=True, batch_size=4
    )
    assert compiled == [{"dynamic": False}] and result.compiled and result.frames == 7
    assert shapes == [(4, 1, 32, 32), (4, 1, 32, 32)]
    a, b = np.stack(read_frames(tmp_path / "e.mp4")).astype(int), np.stack(read_frames(tmp_path / "c.mp4")).astype(int)
    assert np.abs(a - b).max() <= 1  # the padded frames were dropped, the real ones kept in order

    def failing_compile(network, **kwargs):
        def run(L):
            raise RuntimeError("no C++ compiler\nmore detail")

        return run

    monkeypatch.setattr(video.torch, "compile", failing_compile)
    with caplog.at_level(logging.WARNING):
        fallback = colorize_video(
            colourful_unet(), source, tmp_path / "f.mp4", target_size=32, steady=0, crf=0, compile=True
        )
    assert fallback.frames == 7 and not fallback.compiled
    assert [r.getMessage() for r in caplog.records if "torch.compile" in r.getMessage()] == [
        "torch.compile failed (no C++ compiler); colorizing this film without it"
    ]
    with pytest.raises(ValueError, match="compile must be"):
        colorize_video(colourful_unet(), source, tmp_path / "x.mp4", target_size=32, compile="sometimes")
