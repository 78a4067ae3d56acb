"""Inference: a trained generator turned into colour for files.

- :mod:`colorize.inference.full_resolution`: colour at a photo's own resolution (the generator at
  its working size, a*b* upsampled, the input's L* kept);
- :mod:`colorize.inference.strips`: the full-resolution steps strip by strip, so memory does not
  grow with the photo;
- :mod:`colorize.inference.image_files`: pictures written atomically, PNG and TIFF band by band
  at 8 or 16 bits with dpi and ICC profile;
- :mod:`colorize.inference.colorizer`: :class:`Colorizer`, loaded from a ``.ckpt`` or an export;
- :mod:`colorize.inference.export`: the generator export (safetensors + JSON, no code);
- :mod:`colorize.inference.trust`: the registry of colorize's own classes, the only ones a
  shared export or checkpoint may make it build, checked before anything is imported;
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
