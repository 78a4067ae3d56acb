"""colorize: grayscale photo colorization with conditional GANs.

Kept import-light on purpose: `colorize --help` must answer fast, so heavy libraries
(timm, torchmetrics, wandb) load only in the modules that need them.

The package is grouped by concern (``data``, ``models``, ``inference``, ``evaluation``,
``training``, ``serve``; ``color``, ``atomic``, ``provenance`` and ``results`` are the shared
base). Checkpoints and ``config.yaml`` files store class paths, and those written before the
grouping name the old flat modules (``colorize.losses.PerceptualLoss``,
``colorize.module.paper_adam``): :data:`MOVED_MODULES` lets those names import the module that
now holds them, so old files keep loading. It imports nothing until such a name is asked for.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys

__version__ = "0.1.0"

#: Old flat module -> the module that holds its contents now.
MOVED_MODULES = {
    "colorize.module": "colorize.training.module",
    "colorize.losses": "colorize.training.losses",
    "colorize.callbacks": "colorize.training.callbacks",
    "colorize.checkpointing": "colorize.training.checkpointing",
    "colorize.loggers": "colorize.training.loggers",
    "colorize.metrics": "colorize.evaluation.metrics",
    "colorize.fid": "colorize.evaluation.fid",
    "colorize.visualize": "colorize.evaluation.figures",
    "colorize.report": "colorize.evaluation.compare",
    "colorize.colorizer": "colorize.inference.colorizer",
    "colorize.export": "colorize.inference.export",
    "colorize.prediction_writer": "colorize.inference.writer",
    "colorize.colorfulness": "colorize.data.colorfulness",
    "colorize.vgg": "colorize.models.vgg",
}


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old module name as the module that now holds it (the same module object)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED_MODULES:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec):
        return importlib.import_module(MOVED_MODULES[spec.name])

    def exec_module(self, module):
        pass  # already executed under its new name


if not any(isinstance(finder, _MovedModuleFinder) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModuleFinder())
