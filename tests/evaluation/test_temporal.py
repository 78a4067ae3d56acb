"""Temporal metrics: warp error and CDC see flicker, pixel accuracy sees colour."""

import math

import numpy as np
import pytest
from video_clips import texture

from colorize.evaluation.temporal import TemporalMetrics, js_divergence


def test_js_divergence_known_values():
    p = np.array([1.0, 0, 0, 0])
    assert js_divergence(p, p) == 0
    assert js_divergence(p, np.array([0, 1.0, 0, 0])) == pytest.approx(math.log(2))
    assert js_divergence(np.array([1.0, 1]), np.array([1.0, 3])) == pytest.approx(0.0338, abs=1e-4)


def clip(flicker: float, frames: int = 6, seed: int = 0):
    """A panning gray scene with a colour overlay that moves with it, plus per-frame colour noise."""
    rng = np.random.default_rng(seed)
    scene = texture(72, 120)
    for t in range(frames):
        gray = np.ascontiguousarray(scene[4:68, 4 + 2 * t : 100 + 2 * t])
        rgb = np.repeat(gray[..., None], 3, -1).astype(np.float32)
        rgb[..., 0] += 40
        rgb[..., 2] -= 30
        rgb += rng.normal(0, flicker, (1, 1, 3)) + rng.normal(0, flicker / 2, rgb.shape)
        yield gray, np.clip(rgb, 0, 255).round().astype(np.uint8)


def measure(flicker: float, truth_flicker: float | None = None):
    metrics = TemporalMetrics()
    truths = clip(truth_flicker) if truth_flicker is not None else None
    for gray, rgb in clip(flicker):
        metrics.update(gray, rgb, next(truths)[1] if truths else None)
    return metrics.compute()


def test_flicker_raises_warp_error_and_cdc():
    steady, flickering = measure(0.0), measure(12.0)
    assert steady["pairs"] == 5 and steady["cuts"] == 0
    assert flickering["warp_error"] > 3 * steady["warp_error"]
    assert flickering["cdc"] > 3 * steady["cdc"]
    assert set(steady) >= {"cdc@1", "cdc@2", "cdc@4"}


def test_pixel_accuracy_against_the_truth():
    same = measure(0.0, truth_flicker=0.0)
    assert same["pixel_acc@2%"] == pytest.approx(1) and same["pixel_acc@5%"] == pytest.approx(1)
    off = measure(25.0, truth_flicker=0.0)
    assert off["pixel_acc@2%"] < off["pixel_acc@5%"] < 1


def test_a_cut_is_left_out_of_the_warp_error():
    metrics = TemporalMetrics()
    a = texture(64, 96, seed=1)
    b = texture(64, 96, seed=2) // 3
    for gray in (a, a, b, b):
        metrics.update(gray, np.repeat(gray[..., None], 3, -1))
    result = metrics.compute()
    assert result["cuts"] == 1 and result["pairs"] == 2 and result["warp_error"] < 1e-4
