"""colorize: grayscale photo colorization with conditional GANs.

Kept import-light on purpose: `colorize --help` must answer fast, so heavy libraries
(timm, torchmetrics, wandb) load only in the modules that need them.
"""

__version__ = "0.1.0"
