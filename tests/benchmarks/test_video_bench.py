"""benchmarks/video.py at tiny sizes: rows per keyframe interval, their means, and the targets side by side."""

import math

from tiny_runs import colourful_unet
from video_clips import write_clip

from benchmarks import video


def test_rows_per_interval_measure_the_clip_and_count_keyframes(tmp_path):
    clip = tmp_path / "clip.mp4"
    write_clip(clip, frames=12, height=64, width=96, cut_at=7)
    flows = video.gray_flows(clip)
    assert len(flows) == 11 and flows[6] is None  # the cut: no flow joins frames 6 and 7
    network = colourful_unet()
    rows = {
        name: video.colorize_row(network, 32, clip, clip, tmp_path / "out.mp4", steady, flows, False, interval)
        for name, steady, interval in [
            (video.PER_FRAME, 0.0, 1),
            (video.steadied_row(1), 0.8, 1),
            (video.steadied_row(3), 0.8, 3),
        ]
    }
    assert [rows[name]["frames_out"] for name in rows] == [12, 12, 12]
    assert rows[video.PER_FRAME]["keyframes"] == rows[video.steadied_row(1)]["keyframes"] == 1
    # Keyframes 0, 3, 6, then the cut at 7 starts a shot: 7, 10; the rest take carried colour.
    assert rows[video.steadied_row(3)]["keyframe_count"] == 5
    assert all(0 <= rows[name]["pixel_acc@5%"] <= 1 and not math.isnan(rows[name]["warp_error"]) for name in rows)


def test_means_weigh_speed_and_keyframes_by_frames_and_targets_compare_with_per_frame():
    def row(warp, cdc, acc, frames, seconds, keys):
        return {
            "warp_error": warp,
            "cdc": cdc,
            "pixel_acc@5%": acc,
            "frames_out": frames,
            "seconds": seconds,
            "frames_per_s": frames / seconds,
            "keyframe_count": keys,
            "keyframes": keys / frames,
        }

    clips = [
        {video.PER_FRAME: row(2.0, 5.0, 0.70, 100, 20, 100), video.steadied_row(3): row(1.0, 4.0, 0.71, 100, 5, 34)},
        {video.PER_FRAME: row(4.0, 3.0, 0.80, 50, 10, 50), video.steadied_row(3): row(3.0, 3.5, 0.78, 50, 5, 17)},
    ]
    overall = video.mean_rows(clips)
    steadied = overall[video.steadied_row(3)]
    assert steadied["frames_per_s"] == 150 / 10 and steadied["keyframes"] == 51 / 150
    assert steadied["warp_error"] == 2.0 and steadied["pixel_acc@5%"] == 0.745
    [targets] = video.target_rows(overall, overall[video.PER_FRAME], "", [3])
    assert targets == [video.steadied_row(3), "0.67×", "yes", "-0.50", "15.00"]
