"""Inference: a trained generator turned into colour for files.

- :mod:`colorize.inference.full_resolution`: colour at a photo's own resolution (the generator at
  its working size, a*b* upsampled, the input's L* kept);
- :mod:`colorize.inference.colorizer`: :class:`Colorizer`, loaded from a ``.ckpt`` or an export;
- :mod:`colorize.inference.export`: the generator export (safetensors + JSON, no code) and the
  trust check of the classes it names;
- :mod:`colorize.inference.writer`: ``colorize predict``'s writer of colorized photos;
- :mod:`colorize.inference.video`: a film colorized file to file with PyAV, streaming, its sound,
  timing and rotation kept; :mod:`colorize.inference.steady`: colour carried along DIS optical flow
  (forward–backward check, scene cuts); :mod:`colorize.inference.video_writer`: ``colorize predict``'s
  films, after its photos.

May import models, data and the base (``color``, ``atomic``, ``provenance``, ``results``);
evaluation, training, serve and the CLI import inference, never the other way. Nothing is
imported here.
"""

from typing import Any

# Before the grouping, colorize.inference was the module of full-resolution colour.
_FULL_RESOLUTION = ("CPU_PASS_PIXELS", "bf16_is_used", "colorize_image", "colorize_images", "working_size")


def __getattr__(name: str) -> Any:
    if name in _FULL_RESOLUTION:
        from colorize.inference import full_resolution

        return getattr(full_resolution, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
