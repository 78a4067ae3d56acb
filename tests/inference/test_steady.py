"""Steady colour: flow that holds is followed, colour is carried along it both ways, cuts and keyframes start afresh."""

import numpy as np
import pytest
from video_clips import texture

from colorize.inference.steady import (
    ColourCarrier,
    ShotTracker,
    consistent_flow,
    dis_flow,
    histogram_change,
    warp,
)

H, W = 64, 96


def shifted(scene: np.ndarray, dx: int, h: int = H, w: int = W) -> np.ndarray:
    return np.ascontiguousarray(scene[8 : 8 + h, 8 + dx : 8 + dx + w])


def scene_colour(width: int = 200) -> np.ndarray:
    """A smooth a*b* field over the scene, in [-0.5, 0.5]: the true colour moves with the texture."""
    return np.stack([texture(80, width, seed=5), texture(80, width, seed=6)]).astype(np.float32) / 255 - 0.5


def truth_at(colour: np.ndarray, dx: int) -> np.ndarray:
    return np.ascontiguousarray(colour[:, 8 : 8 + H, 8 + dx : 8 + dx + W])


def run(tracker: ShotTracker, carrier: ColourCarrier, frames, predict):
    """Feed frames in order as colorize_video does; ``predict(t)`` is asked only for keyframes."""
    out, keys = {}, []
    for t, lightness in enumerate(frames):
        motion, key = tracker(lightness)
        if key:
            keys.append(t)
        out.update(carrier.push(t, motion, predict(t) if key else None))
    out.update(carrier.finish())
    assert sorted(out) == list(range(len(frames)))  # every frame comes back, once
    return [out[t] for t in range(len(frames))], keys


def test_a_translation_is_found_and_holds_almost_everywhere():
    scene = texture(80, 130)
    previous, current = shifted(scene, 0), shifted(scene, 3)  # the camera pans right: content moves left
    check = consistent_flow(dis_flow(), previous, current)
    inner = check.flow[8:-8, 8:-8]
    assert np.median(inner[..., 0]) == pytest.approx(3, abs=0.3)
    assert np.median(inner[..., 1]) == pytest.approx(0, abs=0.3)
    assert check.valid_share > 0.8
    assert np.abs(warp(previous, check.flow).astype(int) - current)[8:-8, 8:-16].mean() < 3


def test_unrelated_frames_fail_the_check():
    check = consistent_flow(dis_flow(), shifted(texture(80, 130, seed=1), 0), shifted(texture(80, 130, seed=2), 0))
    assert check.valid_share < 0.4


def test_steadying_averages_a_flickering_guess_along_the_motion():
    scene, colour, rng = texture(80, 200), scene_colour(), np.random.default_rng(0)
    frames = [shifted(scene, 2 * t) for t in range(12)]
    noisy = {t: (truth_at(colour, 2 * t) + rng.normal(0, 0.1, (2, H, W))).astype(np.float32) for t in range(12)}
    out, keys = run(ShotTracker(interval=1), ColourCarrier(strength=0.8), frames, noisy.__getitem__)
    assert keys == list(range(12))
    raw = [np.abs(noisy[t] - truth_at(colour, 2 * t)).mean() for t in range(4, 12)]
    steady = [np.abs(out[t] - truth_at(colour, 2 * t)).mean() for t in range(4, 12)]
    # Carried along the flow, the noise of several frames averages out; carried wrongly, the colour would smear.
    assert np.mean(steady) < 0.6 * np.mean(raw)


def test_strength_zero_gives_back_each_prediction():
    scene = texture(80, 200)
    frames = [shifted(scene, 2 * t) for t in range(5)]
    predictions = {t: np.full((2, H, W), 0.1 * t, np.float32) for t in range(5)}
    out, _ = run(ShotTracker(interval=1), ColourCarrier(strength=0), frames, predictions.__getitem__)
    assert all(np.array_equal(out[t], predictions[t]) for t in range(5))


def test_frames_between_keyframes_take_colour_carried_along_the_motion():
    scene, colour = texture(80, 200), scene_colour()
    frames = [shifted(scene, 3 * t) for t in range(10)]
    asked = []

    def predict(t):
        asked.append(t)
        return truth_at(colour, 3 * t)

    out, keys = run(ShotTracker(interval=3), ColourCarrier(strength=0.8), frames, predict)
    assert keys == asked == [0, 3, 6, 9]
    between = [t for t in range(10) if t not in keys]
    carried = np.mean([np.abs(out[t] - truth_at(colour, 3 * t))[:, 4:-4, 4:-4].mean() for t in between])
    held = np.mean([np.abs(out[t - t % 3] - truth_at(colour, 3 * t))[:, 4:-4, 4:-4].mean() for t in between])
    # The last keyframe's colour left in place would be off by the motion; carried along it, it lands.
    assert carried < 0.25 * held


def test_colour_entering_the_frame_comes_from_the_later_keyframe():
    # The camera pans right 4 px a frame: a strip on the right is new in each frame, seen by the later keyframe only.
    scene, colour = texture(80, 200), scene_colour()
    frames = [shifted(scene, 4 * t) for t in range(4)]
    out, keys = run(ShotTracker(interval=3), ColourCarrier(strength=0.8), frames, lambda t: truth_at(colour, 4 * t))
    assert keys == [0, 3]
    strip = np.s_[:, 4:-4, -8:-1]  # frame 2's right edge: 8 px its keyframe 0 never saw
    forward_only = ColourCarrier(strength=0.8)
    tracker = ShotTracker(interval=3)
    for t in range(3):
        forward_only.push(t, *_motion_and_prediction(tracker, frames[t], colour, t))
    alone = dict(forward_only.finish())[2]  # frame 2 coloured from keyframe 0 alone
    error_both = np.abs(out[2] - truth_at(colour, 8))[strip].mean()
    error_alone = np.abs(alone - truth_at(colour, 8))[strip].mean()
    assert error_both < 0.5 * error_alone


def _motion_and_prediction(tracker, lightness, colour, t):
    motion, key = tracker(lightness)
    return motion, truth_at(colour, 4 * t) if key else None


def test_a_cut_starts_afresh_with_the_new_prediction():
    a, b = shifted(texture(80, 130, seed=1), 0), shifted(texture(80, 130, seed=2) // 2, 0)
    tracker, carrier = ShotTracker(interval=3), ColourCarrier(strength=0.8)
    first = np.full((2, H, W), 0.3, np.float32)
    motion, key = tracker(a)
    assert motion is None and key
    assert carrier.push("a", motion, first)[0][0] == "a"
    motion, key = tracker(b)
    assert motion is None and key and tracker.cuts == [1]
    new = -first
    done = carrier.push("b", motion, new)
    assert [item for item, _ in done] == ["b"] and np.array_equal(done[0][1], new)
    assert histogram_change(a, a) == 0 and histogram_change(a, b) > 0.35


def test_a_keyframe_comes_early_when_little_of_the_colour_could_be_carried():
    # Half the frame is replaced by unrelated content: not a cut (half still follows), but too little to carry.
    scene, other = texture(80, 200), texture(80, 200, seed=9)
    tracker = ShotTracker(interval=10)
    first, second = shifted(scene, 0), shifted(scene, 2).copy()
    second[:, W // 2 :] = shifted(other, 0)[:, W // 2 :]
    assert tracker(first) == (None, True)
    motion, key = tracker(second)
    assert motion is not None and tracker.cuts == []  # the same shot ...
    assert key  # ... but a fresh prediction


def test_the_carrier_holds_frames_only_until_their_later_keyframe():
    scene = texture(80, 200)
    tracker, carrier = ShotTracker(interval=3), ColourCarrier(strength=0.5)
    prediction = np.zeros((2, H, W), np.float32)
    released = []
    for t in range(7):
        motion, key = tracker(shifted(scene, t))
        released.append([item for item, _ in carrier.push(t, motion, prediction if key else None)])
    assert released == [[0], [], [], [1, 2, 3], [], [], [4, 5, 6]]
    assert carrier.finish() == []


def test_a_frame_between_keyframes_needs_a_keyframe_before_it():
    with pytest.raises(ValueError, match="first frame of a shot"):
        ColourCarrier().push(0, None, None)


@pytest.mark.parametrize("strength", [-0.1, 1.0])
def test_strength_out_of_range_is_refused(strength):
    with pytest.raises(ValueError, match="strength"):
        ColourCarrier(strength=strength)


@pytest.mark.parametrize("interval", [0, 1.5, True])
def test_a_keyframe_interval_below_one_is_refused(interval):
    with pytest.raises(ValueError, match="interval"):
        ShotTracker(interval=interval)
