"""Steadying: flow that holds is followed, colour is carried along it, cuts start afresh."""

import numpy as np
import pytest
from video_clips import texture

from colorize.inference.steady import Steadier, consistent_flow, dis_flow, histogram_change, warp


def shifted(scene: np.ndarray, dx: int, h: int = 64, w: int = 96) -> np.ndarray:
    return np.ascontiguousarray(scene[8 : 8 + h, 8 + dx : 8 + dx + w])


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


def test_steadying_averages_a_flickering_guess_along_the_motion_and_off_changes_nothing():
    scene, rng = texture(80, 160), np.random.default_rng(0)
    colour = np.stack([texture(80, 160, seed=5), texture(80, 160, seed=6)]).astype(np.float32) / 255 - 0.5
    steadier = Steadier(strength=0.8)
    raw_errors, steady_errors = [], []
    for t in range(12):
        lightness = shifted(scene, 2 * t)
        truth = np.ascontiguousarray(colour[:, 8:72, 8 + 2 * t : 104 + 2 * t])  # the colour moves with the scene
        prediction = (truth + rng.normal(0, 0.1, truth.shape)).astype(np.float32)  # a flickering guess
        out = steadier(lightness, prediction)
        assert np.array_equal(Steadier(strength=0)(lightness, prediction), prediction)
        raw_errors.append(np.abs(prediction - truth).mean())
        steady_errors.append(np.abs(out - truth).mean())
    assert steadier.cuts == []
    # Carried along the flow, the noise of several frames averages out; carried wrongly, the colour would smear.
    assert np.mean(steady_errors[4:]) < 0.6 * np.mean(raw_errors[4:])


def test_a_cut_resets_to_the_new_prediction():
    steadier = Steadier(strength=0.8)
    a, b = shifted(texture(80, 130, seed=1), 0), shifted(texture(80, 130, seed=2) // 2, 0)
    ab = np.zeros((2, 64, 96), np.float32)
    steadier(a, ab + 0.3)
    new = ab - 0.3
    assert np.array_equal(steadier(b, new), new) and steadier.cuts == [1]
    assert histogram_change(a, a) == 0 and histogram_change(a, b) > 0.35


@pytest.mark.parametrize("strength", [-0.1, 1.0])
def test_strength_out_of_range_is_refused(strength):
    with pytest.raises(ValueError, match="strength"):
        Steadier(strength=strength)
