"""``colorize predict``'s videos: after the photos, each film of the input is colorized by the same model.

The Lightning predict loop handles photos (batches of differently sized pictures through
:class:`~colorize.inference.writer.ColorizedPhotoWriter`); a film is one long stream of frames
of one size, which :func:`colorize.inference.video.colorize_video` runs itself. The CLI calls
:meth:`ColorizedVideoWriter.colorize_all` right after the predict loop (which Lightning skips
when there is no photo), with the loop's loaded generator, on its device, in bf16 as photos are:

- ``--input film.mp4 --output film_color.mp4``: one film in, one film out (``output``);
- ``--input folder/ --output out/``: every video of the folder (by suffix,
  :data:`colorize.data.videos.VIDEO_SUFFIXES`) becomes ``out/<relative path>.mp4`` beside the PNGs,
  named as the photos are (:func:`colorize.inference.writer.output_names`).

A file that is not a video, or one that fails, is skipped with one line naming it; the others
are still colorized.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Literal

from lightning.pytorch.callbacks import Callback

from colorize.data.videos import OUTPUT_FORMATS, NotAVideoError, find_videos, is_video_path
from colorize.inference.writer import ColorizedPhotoWriter, output_names
from colorize.models.mirror_average import MirrorAverage, colorizing_network

__all__ = ["ColorizedVideoWriter"]

log = logging.getLogger(__name__)


class ColorizedVideoWriter(Callback):
    """Colorize the videos among ``colorize predict``'s inputs when the photos are done.

    Args:
        output: the colorized film when the input is one video (``--output x.mp4`` sets it); None: the
            photo writer's folder, ``<name>.mp4``.
        steady: carry colour along the optical flow (:mod:`colorize.inference.steady`), strength in
            [0, 1); ``off`` (or 0) colorizes each frame on its own.
        key_interval: with steadying, the generator colours at least every ``key_interval``-th frame; the
            frames between take the colour of the keyframes on either side, carried along the flow. 1: every
            frame (slower, for comparison). Default: :data:`colorize.inference.video.KEY_INTERVAL`.
        mirror_average: also colorize each mirrored frame and average (twice the generator's work). Off
            by default for video: steadying already averages over frames, at a fraction of the cost.
        batch_size: keyframes per generator pass.
        crf: x264's quality, 0 (lossless) to 51; 18 is visually lossless, 23 is x264's default.
        progress: a progress bar per film (frames/s, time left).
        compile: compile the generator for the film (``torch.compile``, 10-20 s once, then up to ~15 % faster
            generator passes with bf16; none measured in float32 on AVX2); ``auto``: for films long enough for
            :data:`colorize.inference.video.COMPILE_MIN_FRAMES` generator passes.
        input_root: the file or folder given as ``--input`` (linked from ``data.predict_path``).
    """

    def __init__(
        self,
        output: str | None = None,
        steady: float | Literal["off"] = 0.8,
        key_interval: int = 5,
        mirror_average: bool = False,
        batch_size: int = 4,
        crf: int = 18,
        progress: bool = True,
        compile: bool | Literal["auto"] = "auto",
        input_root: str | None = None,
    ) -> None:
        super().__init__()
        strength = 0.0 if steady == "off" else float(steady)
        if not 0 <= strength < 1:
            raise ValueError(f"video.steady must be in [0, 1) or 'off', got {steady!r}")
        if output is not None and Path(output).suffix.lower() not in OUTPUT_FORMATS:
            raise ValueError(f"video.output {output}: must end in {', '.join(sorted(OUTPUT_FORMATS))}")
        if isinstance(key_interval, bool) or not isinstance(key_interval, int) or key_interval < 1:
            raise ValueError(f"video.key_interval must be an int >= 1, got {key_interval!r}")
        self.key_interval = key_interval
        if not 0 <= crf <= 51 or batch_size < 1:
            raise ValueError(f"video.crf must be in [0, 51] and video.batch_size >= 1, got {crf} and {batch_size}")
        self.output = output
        self.steady, self.mirror_average, self.batch_size, self.crf = strength, mirror_average, batch_size, crf
        if compile not in (True, False, "auto"):
            raise ValueError(f"video.compile must be true, false or auto, got {compile!r}")
        self.progress, self.compile = progress, compile
        self.input_root = input_root
        self.results: list[Any] = []  # colorize.inference.video.VideoResult
        self.skipped: list[str] = []

    @property
    def single_video(self) -> bool:
        """Whether the input is one video file (so the photo writer has nothing to do)."""
        return self.input_root is not None and is_video_path(self.input_root) and Path(self.input_root).is_file()

    def targets(self, photo_output_dir: Path | None) -> dict[Path, Path]:
        """``{video: colorized video}`` for every video of the input."""
        if self.input_root is None:
            return {}
        root = Path(self.input_root).expanduser()
        videos = find_videos(root)
        if self.output is not None:
            if not self.single_video:
                raise ValueError(f"video.output {self.output} names one film, but the input {root} is not one video")
            return {videos[0]: Path(self.output).expanduser()}
        if photo_output_dir is None:
            raise ValueError("no output folder for the colorized videos (set --output)")
        base = root.parent if root.is_file() else root
        names = output_names([v.relative_to(base) for v in videos])
        # The photo names end in .png; a film keeps the name and becomes an MP4.
        return {base / src: photo_output_dir / dst.with_suffix(".mp4") for src, dst in names.items()}

    def network(self, pl_module: Any) -> Any:
        """The predict loop's colorizing generator, mirror-averaged only if :attr:`mirror_average` says so."""
        network = pl_module.colorizing_generator
        if isinstance(network, MirrorAverage):
            network = network.generator
        return colorizing_network(network, self.mirror_average)

    def colorize_all(self, trainer: Any, pl_module: Any) -> None:
        """Colorize every video of the input with ``pl_module``'s generator (after ``trainer.predict``)."""
        writers = [c for c in trainer.callbacks if isinstance(c, ColorizedPhotoWriter)]
        targets = self.targets(writers[0].output_dir if writers else None)
        if not targets:
            return
        datamodule = trainer.datamodule
        size = datamodule.hparams.image_size if datamodule is not None else 256
        # Lightning's teardown parks the module on the CPU after predicting: back to the loop's device.
        network = self.network(pl_module).to(trainer.strategy.root_device)
        for source, target in targets.items():
            self._one(network, source, target, size)
        log.info("colorized %d video(s); %d skipped", len(self.results), len(self.skipped))

    def _one(self, network: Any, source: Path, target: Path, size: int) -> None:
        # Imported here: PyAV and OpenCV load only when there is a film (colorize --help stays quick).
        from colorize.inference.video import colorize_video

        if target.resolve() == source.resolve():
            log.warning("skipping video %s: its output would overwrite it; choose another --output", source)
            self.skipped.append(os.fspath(source))
            return
        try:
            result = colorize_video(
                network,
                source,
                target,
                target_size=size,
                steady=self.steady,
                key_interval=self.key_interval,
                batch_size=self.batch_size,
                crf=self.crf,
                progress=self.progress,
                compile=self.compile,
            )
        except (NotAVideoError, OSError, ValueError) as error:
            text = str(error)
            log.warning("skipping video %s", text if os.fspath(source) in text else f"{source}: {text}")
            self.skipped.append(os.fspath(source))
            return
        self.results.append(result)
        log.info(
            "wrote %s: %d frames in %.1f s (%.1f frames/s, %s%s%s)",
            target,
            result.frames,
            result.seconds,
            result.frames_per_s,
            result.encoder,
            ", compiled" if result.compiled else "",
            f", {len(result.cuts)} scene cut(s)" if result.cuts else "",
        )
