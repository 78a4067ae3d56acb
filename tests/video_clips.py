"""Small video files made with PyAV for the video tests: a moving texture, optionally with a tone and a rotation."""

from __future__ import annotations

import av
import numpy as np

TONE_RATE = 16000


def texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth random gray texture (uint8), larger than a frame so that a window can move over it."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (height // 4 + 2, width // 4 + 2), dtype=np.uint8)
    import cv2

    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)


def write_clip(
    path,
    frames: int = 12,
    height: int = 48,
    width: int = 64,
    *,
    fps: int = 25,
    tone: bool = False,
    rotation: int | None = None,
    cut_at: int | None = None,
    options: dict | None = None,
    container_options: dict | None = None,
) -> list[np.ndarray]:
    """Write a gray clip of a texture panning right by 2 px a frame (a new texture after ``cut_at``).

    Returns the RGB frames as they went into the encoder.
    """
    container = av.open(str(path), "w", options=container_options or {})
    video = container.add_stream("libx264", rate=fps)
    video.width, video.height, video.pix_fmt = width, height, "yuv420p"
    video.options = {"crf": "10", **(options or {})}
    if rotation is not None:
        video.set_display_rotation(rotation)
    audio = container.add_stream("aac", rate=TONE_RATE) if tone else None
    scenes = [texture(height + 8, width + 2 * frames + 8, seed) for seed in (0, 1)]
    written, samples_done = [], 0
    for i in range(frames):
        scene = scenes[1] if cut_at is not None and i >= cut_at else scenes[0]
        gray = scene[4 : 4 + height, 2 * i : 2 * i + width]
        rgb = np.repeat(gray[..., None], 3, axis=-1)
        container.mux(video.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        written.append(rgb)
        while audio is not None and samples_done < (i + 1) * TONE_RATE // fps:
            t = samples_done + np.arange(1024)
            chunk = (0.3 * np.sin(2 * np.pi * 440 * t / TONE_RATE)).astype(np.float32)[None]
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = TONE_RATE, samples_done
            container.mux(audio.encode(frame))
            samples_done += 1024
    container.mux(video.encode(None))
    if audio is not None:
        container.mux(audio.encode(None))
    container.close()
    return written


def read_frames(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def audio_packets(path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(packet) for packet in container.demux(container.streams.audio[0]) if packet.size]
