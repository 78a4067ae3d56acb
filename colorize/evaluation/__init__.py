"""Evaluation: how good a colorization is, and how that is reported.

- :mod:`colorize.evaluation.metrics`: torchmetrics Metrics (pixel accuracy at 2 % and 5 %, balanced
  accuracy, raw-accuracy AuC, colourfulness, PSNR, SSIM, LPIPS, ...);
- :mod:`colorize.evaluation.fid`: FID and KID with the standard Inception network;
- :mod:`colorize.evaluation.report`: the ``colorize test`` callback, every row beside all-gray;
- :mod:`colorize.evaluation.compare`: ``colorize compare``, one table of several runs, the paper's table;
- :mod:`colorize.evaluation.figures`: comparison grids (gray / colorized / truth), pictures sent to loggers.

May import inference (the test callback loads checkpoints to compare), models, data and the
base (``color``, ``atomic``, ``provenance``, ``results``); training imports evaluation, never
the other way. Nothing is imported here.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    # Before the grouping, colorize.evaluation was the module of the test callback, and a saved
    # config may name colorize.evaluation.EvaluationReport.
    if name == "EvaluationReport":
        from colorize.evaluation.report import EvaluationReport

        return EvaluationReport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
