"""Colorize a video file into another one, streaming, with its sound and timing kept.

PyAV (FFmpeg in its wheel, no system ffmpeg) decodes and encodes. Three threads overlap:

    decoder thread:  demux, decode, L* (OpenCV); the flow from the frame before and whether the frame
                     is a keyframe (:class:`~colorize.inference.steady.ShotTracker`) -> queue (bounded) ->
    calling thread:  the generator on the keyframes, in batches of one working size -> queue (bounded) ->
    encoder thread:  colour carried along the flow to the frames between keyframes and steadied on the
                     keyframes (:class:`~colorize.inference.steady.ColourCarrier`), a*b* upsampled and
                     joined with the frame's own L*, encode (H.264), mux; audio and subtitle packets
                     are muxed as they came

The queues hold at most a few batches, so memory is constant whatever the film's length; the
most frames alive at once is reported (:attr:`VideoResult.max_in_flight`).

What is kept: every frame with its timestamp (so frame count and frame rate, constant or not),
the size, the rotation (display matrix), and the packets of audio and subtitle streams byte for
byte. The colour follows the photo path (:mod:`colorize.inference.full_resolution`): a*b* is
predicted at the working size, upsampled, and joined with the full-resolution L* of the input
frame, so the output's L* is the input's up to gamut clipping and the codec's rounding.

The output is written to a hidden temporary file beside the target and renamed when complete:
a run that is stopped leaves no half video under the target's name. A file that FFmpeg cannot
open as a video raises :class:`NotAVideoError`; a video that breaks off (truncated, corrupt) is
colorized up to the break, and :attr:`VideoResult.broken` says where.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import struct
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from colorize.color import AB_SCALE, L_OFFSET, L_SCALE
from colorize.data.videos import OUTPUT_FORMATS, NotAVideoError
from colorize.inference.full_resolution import bf16_is_used, working_size
from colorize.inference.steady import ColourCarrier, Motion, ShotTracker
from colorize.models.fold_batch_norm import fold_batch_norms

__all__ = ["NotAVideoError", "VideoResult", "colorize_video", "h264_encoder", "OUTPUT_FORMATS"]

log = logging.getLogger(__name__)

#: Encoders tried in order: H.264 plays everywhere (browsers included); MPEG-4 part 2 is FFmpeg's own fallback.
ENCODERS = ("libx264", "libopenh264", "mpeg4")
#: x264's speed/size trade-off: "veryfast" costs ~2 ms a 640x360 frame on one core, a few % of the generator.
X264_PRESET = "veryfast"
#: ``compile="auto"`` compiles the generator for films it colours at least this many frames of (keyframes):
#: torch.compile takes 10-20 s on a 2-core CPU; with bf16 on AVX-512 it then saved ~15 % of every generator pass
#: (paying after ~600), in float32 on an AVX2-only CPU nothing measurable (264 vs 266 ms a frame).
COMPILE_MIN_FRAMES = 1500
#: With steadying on, the generator colours every KEY_INTERVAL-th frame at least; the frames between take colour
#: carried along the flow from both sides (colorize/inference/steady.py). Measured on made and real filmed clips
#: (docs/video.md): flicker and accuracy the same from 1 to 5, 3.4x the per-frame speed on a 2-core AVX2 CPU.
KEY_INTERVAL = 5
_END = object()


@dataclass
class VideoResult:
    """What :func:`colorize_video` did.

    Attributes:
        path: the written video.
        frames: frames written (all the input's, or those before the break).
        declared_frames: the frame count the input's header states (0 if it states none).
        seconds: wall time, decoding and encoding included.
        encoder: the video encoder used.
        broken: None, or where the input broke off (a sentence naming the frame and time).
        cuts: frame indices where steadying found a scene cut.
        copied_streams: how many audio/subtitle streams were copied.
        max_in_flight: the most frames decoded but not yet encoded at any moment.
        compiled: whether the generator ran compiled (``torch.compile``) to the end.
        keyframes: frames the generator coloured (the others took colour carried along the flow).
    """

    path: Path
    frames: int
    declared_frames: int
    seconds: float
    encoder: str
    broken: str | None = None
    cuts: tuple[int, ...] = ()
    copied_streams: int = 0
    max_in_flight: int = 0
    compiled: bool = False
    keyframes: int = 0

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def h264_encoder() -> str:
    """The first of :data:`ENCODERS` the installed FFmpeg can encode with."""
    for name in ENCODERS:
        try:
            av.codec.Codec(name, "w")
            return name
        except (av.error.FFmpegError, ValueError):  # UnknownCodecError is a ValueError
            continue
    raise RuntimeError(f"PyAV's FFmpeg has none of the encoders {ENCODERS}")


def _first_line(error: BaseException) -> str:
    # FFmpeg's errors render as "[Errno -1094995529] Invalid data ...: 'path'"; the reason alone reads better.
    text = (getattr(error, "strerror", None) if isinstance(error, av.error.FFmpegError) else None) or str(error)
    text = text.strip()
    return text.splitlines()[0] if text else type(error).__name__


def open_video(path: str | os.PathLike) -> Any:
    """``av.open(path)`` with one video stream at least, or :class:`NotAVideoError` naming the file."""
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as error:
        raise NotAVideoError(f"{path}: not a video FFmpeg can read ({_first_line(error)})") from None
    if not container.streams.video:
        container.close()
        raise NotAVideoError(f"{path}: holds no video stream")
    return container


@dataclass
class _Frame:
    lightness: np.ndarray  # (H, W) float32 L* in [0, 100], the input frame's
    pts: int | None
    index: int
    display_matrix: tuple[int, ...] | None
    key: bool = True  # the generator colours it (every frame when colour is not carried)
    motion: Motion | None = None  # from the frame before, at the working size (None: a shot starts, or not carried)
    ab: np.ndarray | None = None  # (2, h, w) float32 normalized a*b* at the working size, once colorized


def frame_lightness(rgb: np.ndarray) -> np.ndarray:
    """L* (0-100, float32) of an ``(H, W, 3)`` uint8 sRGB frame.

    OpenCV's conversion (D65, sRGB companding, as kornia's for photos, within 0.2 L*): 3 ms for a
    640 x 360 frame where kornia's took 50-250 ms, and it releases the GIL, so it runs in the
    decoder thread beside the generator.
    """
    return np.ascontiguousarray(cv2.cvtColor(rgb.astype(np.float32) * (1 / 255), cv2.COLOR_RGB2Lab)[..., 0])


def join_lab(lightness: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 sRGB from the full-size L* and working-size normalized a*b* ``(2, h, w)``.

    a*b* is upsampled bilinearly (half-pixel centres, as ``F.interpolate(align_corners=False)``);
    colours outside the sRGB gamut are clipped, which is where the output's L* may leave the input's.
    """
    height, width = lightness.shape
    upsampled = cv2.resize(np.ascontiguousarray(ab.transpose(1, 2, 0)), (width, height), interpolation=cv2.INTER_LINEAR)
    lab = np.dstack([lightness, upsampled * AB_SCALE]).astype(np.float32)
    rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
    return (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)


def _display_matrix(frame: av.VideoFrame) -> tuple[int, ...] | None:
    """The rotation/flip matrix FFmpeg attaches to the frames of a rotated stream (9 int32), if any."""
    side = frame.side_data.get(av.sidedata.sidedata.Type.DISPLAYMATRIX)
    return struct.unpack("<9i", bytes(side)) if side is not None else None


class _Stop(Exception):
    """Raised in a worker thread when the pipeline is being torn down."""


def _put(channel: queue.Queue, item: Any, stop: threading.Event) -> None:
    while True:
        if stop.is_set():
            raise _Stop
        try:
            channel.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


class _Counter:
    """Frames decoded minus frames encoded, and its maximum (the pipeline's memory in frames)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.alive = self.most = 0

    def add(self, n: int) -> None:
        with self._lock:
            self.alive += n
            self.most = max(self.most, self.alive)


def small_lightness(lightness: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(h, w)`` uint8 L (0-255 for L* 0-100) at the working size ``size``: what the flow is computed on."""
    small = cv2.resize(lightness, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return np.clip(small * 2.55 + 0.5, 0, 255).astype(np.uint8)


def _decode(
    container: Any,
    copied: dict[int, Any],
    out: queue.Queue,
    stop: threading.Event,
    alive: _Counter,
    tracker: ShotTracker | None = None,
    size_of: Callable[[int, int], tuple[int, int]] | None = None,
) -> None:
    """Decoder thread: frames and packets to copy, in file order; then ``("end", error or None)``.

    With a ``tracker``, each frame also gets its motion from the frame before and whether it is a
    keyframe, on its lightness at the working size (``size_of(height, width)``).
    """
    video = container.streams.video[0]
    index, matrix, error = 0, None, None

    def emit(frame: Any) -> None:
        nonlocal index, matrix
        if index == 0:
            matrix = _display_matrix(frame)
        alive.add(1)
        lightness = frame_lightness(frame.to_ndarray(format="rgb24"))
        item = _Frame(lightness, frame.pts, index, matrix)
        if tracker is not None:
            item.motion, item.key = tracker(small_lightness(lightness, size_of(*lightness.shape)))
        _put(out, ("frame", item), stop)
        index += 1

    try:  # any error ends the film where it happened: the calling thread waits for the end marker
        for packet in container.demux(video, *copied.values()):
            if packet.stream.index != video.index:
                if packet.dts is not None:  # None: the demuxer's flush packet, no data
                    _put(out, ("packet", packet), stop)
                continue
            for frame in packet.decode():
                emit(frame)
    except _Stop:
        return
    except Exception as err:  # FFmpeg's errors on a corrupt stream, and anything unexpected alike
        error = _first_line(err)
        try:  # the frames the decoder still holds (B-frames, frame threads) come before the break
            for frame in video.codec_context.decode(None):
                emit(frame)
        except _Stop:
            return
        except Exception:  # nothing more to be had from this stream
            pass
    try:
        _put(out, ("end", error), stop)
    except _Stop:
        return


class _Encoder:
    """Encoder thread: opens the output on the first frame (its display matrix is known then), encodes, muxes."""

    def __init__(
        self,
        path: Path,
        format_name: str,
        source: Any,
        copied: dict[int, Any],
        crf: int,
        encoder: str,
        carrier: ColourCarrier | None,
        alive: _Counter,
    ):
        self.path, self.format_name, self.source, self.copied = path, format_name, source, copied
        self.crf, self.encoder, self.carrier, self.alive = crf, encoder, carrier, alive
        self.container: Any = None
        self.stream: Any = None
        self.streams: dict[int, Any] = {}
        self.frames = 0
        self.error: BaseException | None = None

    def _open(self, first: _Frame) -> None:
        video = self.source.streams.video[0]
        self.container = av.open(str(self.path), "w", format=self.format_name)
        rate = video.average_rate or video.guessed_rate or Fraction(25)
        stream = self.container.add_stream(self.encoder, rate=rate)
        height, width = first.lightness.shape
        stream.width, stream.height = width, height
        # 4:2:0 needs even sides; an odd-sized film keeps full chroma rather than losing a pixel row.
        stream.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        # The input's own clock: every frame keeps its timestamp, so variable frame rates survive too.
        stream.time_base = video.time_base
        stream.codec_context.time_base = video.time_base
        if self.encoder == "libx264":
            stream.options = {"crf": str(self.crf), "preset": X264_PRESET}
        elif self.encoder == "mpeg4":
            stream.codec_context.qscale = max(1, min(31, round(self.crf / 51 * 30) + 1))
            stream.codec_context.bit_rate = 0
        if first.display_matrix is not None:
            stream.set_display_matrix(first.display_matrix)
        self.stream = stream
        for index, template in self.copied.items():
            self.streams[index] = self.container.add_stream_from_template(template)

    def _write(self, item: tuple[str, Any], pending: list) -> None:
        kind, value = item
        if kind == "packet":
            if self.container is None:
                pending.append(value)  # sound before the first picture: kept until the output exists
                return
            value.stream = self.streams[value.stream.index]
            self.container.mux(value)
            return
        if self.container is None:
            self._open(value)
            for packet in pending:
                packet.stream = self.streams[packet.stream.index]
                self.container.mux(packet)
            pending.clear()
        if self.carrier is None:
            self._encode(value, value.ab)
            return
        for held, ab in self.carrier.push(value, value.motion, value.ab if value.key else None):
            self._encode(held, ab)

    def _encode(self, value: _Frame, ab: np.ndarray) -> None:
        frame = av.VideoFrame.from_ndarray(join_lab(value.lightness, ab), format="rgb24")
        frame.pts = value.pts if value.pts is not None else value.index
        frame.time_base = self.stream.codec_context.time_base
        self.container.mux(self.stream.encode(frame))
        self.frames += 1
        self.alive.add(-1)

    def run(self, channel: queue.Queue) -> None:
        pending: list = []
        try:
            while (item := channel.get()) is not _END:
                self._write(item, pending)
            if self.carrier is not None:
                for held, ab in self.carrier.finish():  # the frames after the last keyframe
                    self._encode(held, ab)
            if self.stream is not None:
                self.container.mux(self.stream.encode(None))
        except BaseException as error:  # handed to the calling thread, which raises it
            self.error = error
            while channel.get() is not _END:  # keep the producer from blocking
                pass
        finally:
            if self.container is not None:
                self.container.close()


def _generator_device(network: nn.Module) -> tuple[torch.device, torch.dtype]:
    for tensor in network.parameters():
        return tensor.device, tensor.dtype
    return torch.device("cpu"), torch.float32


class _Colorist:
    """A batch of frames' L* -> their a*b* at the working size (the calling thread's work).

    It colours with a copy of ``network`` whose batch norms are folded into their convolutions
    (:func:`~colorize.models.fold_batch_norm.fold_batch_norms`): the same colours, one pass over each
    decoder map fewer, on every frame of the film. With ``compile`` that copy is also compiled
    (``torch.compile``, weights frozen into the graph): every batch then has ``batch_size`` frames (the
    last is padded with copies of its last frame), so it compiles once; if compiling fails (no C++
    compiler, an unsupported operator), one line says so and the film is coloured without it.
    """

    def __init__(self, network: nn.Module, target_size: int, bf16: bool, compile: bool, batch: int):
        network = fold_batch_norms(network)
        self.network, self.target_size = network, target_size
        self.compiled, self.batch = None, batch
        self.device, self.dtype = _generator_device(network)
        self.stride = int(getattr(network, "stride", 1))
        self.autocast = torch.autocast(self.device.type, torch.bfloat16) if bf16_is_used(network, bf16) else None
        # oneDNN's convolutions are fastest in channels-last on the CPU (10-15 % for the demo's generator).
        self.channels_last = self.device.type == "cpu"
        if self.channels_last:
            network.to(memory_format=torch.channels_last)
        if compile:
            self.compiled = torch.compile(network, dynamic=False)

    def size_of(self, height: int, width: int) -> tuple[int, int]:
        """The working size of a ``height x width`` frame (as for photos: :func:`working_size`)."""
        return working_size(height, width, self.target_size, self.stride)

    def _forward(self, L: torch.Tensor) -> torch.Tensor:
        if self.compiled is not None:
            try:
                # Freezing folds the weights into the graph as constants (prepacked for oneDNN on the CPU).
                with torch._inductor.config.patch(freezing=True):
                    return self.compiled(L)
            except Exception as error:  # torch.compile's failures have no common type; eager always works
                log.warning("torch.compile failed (%s); colorizing this film without it", _first_line(error))
                self.compiled = None
        return self.network(L)

    def __call__(self, frames: list[_Frame]) -> list[np.ndarray]:
        """The frames' a*b* ``(2, h, w)`` at the working size; the encoder thread joins it with their L*."""
        count = len(frames)
        if self.compiled is not None and count < self.batch:
            frames = frames + [frames[-1]] * (self.batch - count)  # one shape: one compilation
        # (B, 1, H, W) normalized L in [-1, 1], float32: lightness never goes through bf16.
        L = torch.from_numpy(np.stack([f.lightness for f in frames]))[:, None].to(self.device) / L_SCALE - L_OFFSET
        size = self.size_of(*L.shape[-2:])
        L_small = F.interpolate(L, size=size, mode="bilinear", antialias=True, align_corners=False)
        L_in = L_small.to(self.dtype).contiguous(
            memory_format=torch.channels_last if self.channels_last else torch.contiguous_format
        )
        with torch.inference_mode():
            if self.autocast is not None:
                with self.autocast:
                    ab_small = self._forward(L_in)
            else:
                ab_small = self._forward(L_in)
        ab_small = ab_small.float()
        if ab_small.shape != (len(frames), 2, *size):
            raise ValueError(f"generator must return ({len(frames)}, 2, {size[0]}, {size[1]}), got {ab_small.shape}")
        return list(ab_small[:count].cpu().numpy())


def temporary_path(target: Path) -> Path:
    """The hidden name a video is written under until it is complete (beside it: a rename stays atomic)."""
    return target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.part")


def colorize_video(
    network: nn.Module,
    source: str | os.PathLike,
    target: str | os.PathLike,
    *,
    target_size: int,
    steady: float = 0.8,
    key_interval: int = KEY_INTERVAL,
    batch_size: int = 4,
    crf: int = 18,
    bf16: bool = True,
    queue_batches: int = 2,
    progress: bool = False,
    on_batch: Callable[[int], None] | None = None,
    compile: bool | str = "auto",
) -> VideoResult:
    """Colorize the video ``source`` into ``target`` (see the module docstring).

    Args:
        network: maps ``(B, 1, h, w)`` L in [-1, 1] to ``(B, 2, h, w)`` ab in [-1, 1], run in eval mode
            (the generator, or a :class:`~colorize.models.mirror_average.MirrorAverage` of it); it is
            left as it is: the film is coloured by an eval-mode copy with its batch norms folded, in
            channels-last memory on the CPU (same values, oneDNN's faster layout).
        source: a video file FFmpeg can read.
        target: the colorized video, ``.mp4``, ``.m4v``, ``.mov`` or ``.mkv``; an existing file is replaced
            only once the new one is complete.
        target_size: the generator's training size (the working size's shorter side).
        steady: steadying strength in [0, 1) (:class:`~colorize.inference.steady.ColourCarrier`); 0 is
            per-frame: the generator colours every frame on its own, and no flow is computed.
        key_interval: with steadying, the generator colours at least every ``key_interval``-th frame (and
            each shot's first, and any frame the colour could not be carried to); the frames between take the
            colour of the keyframes on either side, carried along the flow
            (:class:`~colorize.inference.steady.ShotTracker`). 1: every frame.
        batch_size: keyframes per generator pass (all frames of a film share one working size).
        crf: x264's constant rate factor, 0 (lossless) to 51; 18 is visually lossless. MPEG-4 maps it to a qscale.
        bf16: the generator's forward pass under bf16 autocast where it is native (CUDA, AVX-512 BF16, AMX;
            :func:`~colorize.inference.full_resolution.bf16_is_used`), as ``colorize predict`` runs photos.
        queue_batches: batches (of ``batch_size * key_interval`` frames) each of the two queues may hold: the
            pipeline's memory, in batches.
        progress: show a progress bar (frames/s, time left) on stderr.
        on_batch: called with the number of frames done after each batch (``colorize serve``'s progress).
        compile: compile the generator (``torch.compile``; see ``_Colorist``); ``"auto"``: for films whose
            header states enough frames for :data:`COMPILE_MIN_FRAMES` generator passes (keyframes), where the
            compilation may pay for itself.

    Returns:
        What was written (frames, time, encoder, where the input broke off if it did).

    Raises:
        NotAVideoError: ``source`` cannot be opened as a video; nothing is written.
        ValueError: ``target``'s suffix is not one of :data:`OUTPUT_FORMATS`, or an option is out of range.
    """
    source, target = Path(source), Path(target)
    format_name = OUTPUT_FORMATS.get(target.suffix.lower())
    if format_name is None:
        raise ValueError(f"{target}: a colorized video must end in {', '.join(sorted(OUTPUT_FORMATS))}")
    if compile not in (True, False, "auto"):
        raise ValueError(f"compile must be true, false or 'auto', got {compile!r}")
    if batch_size < 1 or queue_batches < 1 or not 0 <= crf <= 51:
        raise ValueError(
            f"need batch_size >= 1, queue_batches >= 1, 0 <= crf <= 51; got {batch_size}, {queue_batches}, {crf}"
        )
    carrier = ColourCarrier(strength=steady) if steady > 0 else None
    tracker = ShotTracker(interval=key_interval) if carrier is not None else None
    interval = tracker.interval if tracker is not None else 1
    frames_per_batch = batch_size * interval
    started = time.perf_counter()
    container = open_video(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = temporary_path(target)
    video = container.streams.video[0]
    copied = _streams_to_copy(container, format_name, source)
    stop, alive = threading.Event(), _Counter()
    encoder = _Encoder(part, format_name, container, copied, crf, h264_encoder(), carrier, alive)
    decoded: queue.Queue = queue.Queue(maxsize=frames_per_batch * queue_batches)
    encoded: queue.Queue = queue.Queue(maxsize=frames_per_batch * queue_batches)
    declared = int(video.frames or 0)
    keyframes_at_least = math.ceil(declared / interval)
    compiled = keyframes_at_least >= COMPILE_MIN_FRAMES if compile == "auto" else bool(compile)
    colorist = _Colorist(network, target_size, bf16, compiled, batch_size)
    decoder = threading.Thread(
        target=_decode, args=(container, copied, decoded, stop, alive, tracker, colorist.size_of), daemon=True
    )
    writer = threading.Thread(target=encoder.run, args=(encoded,), daemon=True)
    bar = _progress_bar(declared, source.name, progress)
    broken, end_error, done, keyframes = None, None, 0, 0
    decoder.start()
    writer.start()
    try:
        batch: list[_Frame] = []  # in frame order: batch_size keyframes (the last batch fewer) and those between
        keys = 0
        while True:
            kind, value = decoded.get()
            if kind == "packet":
                _put(encoded, ("packet", value), stop)
                continue
            if kind == "frame":
                batch.append(value)
                keys += value.key
            if batch and (keys == batch_size or kind == "end"):
                coloured = [frame for frame in batch if frame.key]
                keyframes += len(coloured)
                if coloured:
                    for frame, ab in zip(coloured, colorist(coloured), strict=True):
                        frame.ab = ab
                for frame in batch:
                    _put(encoded, ("frame", frame), stop)
                done += len(batch)
                if encoder.error is not None:
                    raise encoder.error
                bar.update(len(batch))
                if on_batch is not None:
                    on_batch(done)
                batch, keys = [], 0
            if kind == "end":
                end_error = value
                broken = _where_broken(value, done, declared, video)
                break
        encoded.put(_END)
        writer.join()
        if encoder.error is not None:
            raise encoder.error
        if done == 0:
            raise NotAVideoError(f"{source}: no frame could be decoded" + (f" ({end_error})" if end_error else ""))
        os.replace(part, target)
    except BaseException:
        stop.set()
        if writer.is_alive():
            # Unblock and end the encoder thread (it drains to the end marker), then drop the half file.
            _drain_then_end(encoded)
            writer.join()
        part.unlink(missing_ok=True)
        raise
    finally:
        stop.set()
        decoder.join(timeout=5)
        container.close()
        bar.close()
    if broken is not None:
        log.warning("%s: %s", source, broken)
    cuts = tuple(tracker.cuts) if tracker is not None else ()
    return VideoResult(
        target,
        done,
        declared,
        time.perf_counter() - started,
        encoder.encoder,
        broken,
        cuts,
        len(copied),
        alive.most,
        colorist.compiled is not None,
        keyframes,
    )


def _drain_then_end(channel: queue.Queue) -> None:
    while True:
        try:
            channel.put(_END, timeout=0.1)
            return
        except queue.Full:
            try:
                channel.get_nowait()
            except queue.Empty:
                pass


def _where_broken(error: str | None, done: int, declared: int, video: Any) -> str | None:
    """A sentence saying where the input broke off, or None if it was read to its end."""
    if error is None and (declared == 0 or done >= declared):
        return None
    rate = video.average_rate or video.guessed_rate
    at = f" ({float(done / rate):.2f} s)" if rate else ""
    of = f" of {declared}" if declared else ""
    why = f": {error}" if error else ""
    return f"the video breaks off after frame {done}{at}{of}{why}; colorized up to there"


def _streams_to_copy(container: Any, format_name: str, source: Path) -> dict[int, Any]:
    """Audio and subtitle streams the output format can hold, by input index; the others are named and left out."""
    try:
        supported: set[str] | None = _supported_codecs(format_name)
    except (av.error.FFmpegError, AttributeError):  # no query: try them all, the muxer refuses what it cannot hold
        supported = None
    copied = {}
    for stream in container.streams:
        if stream.type not in ("audio", "subtitle"):
            continue
        name = stream.codec_context.name if stream.codec_context is not None else None
        if supported is not None and name not in supported:
            log.warning(
                "%s: stream #%d (%s %s) cannot go into %s; left out (a .mkv output keeps it)",
                source,
                stream.index,
                stream.type,
                name,
                format_name,
            )
            continue
        copied[stream.index] = stream
    return copied


_SUPPORTED: dict[str, set[str]] = {}


def _supported_codecs(format_name: str) -> set[str]:
    """The codecs FFmpeg's ``format_name`` muxer can hold (asked once per format)."""
    if format_name not in _SUPPORTED:
        probe = av.open(os.devnull, "w", format=format_name)
        try:
            _SUPPORTED[format_name] = set(probe.supported_codecs)
        finally:
            probe.close()
    return _SUPPORTED[format_name]


def _progress_bar(total: int, name: str, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total or None, desc=name, unit="frame", disable=not enabled, dynamic_ncols=True)
