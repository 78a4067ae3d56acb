"""Generators and discriminator: plain ``nn.Module``s, chosen in YAML by ``class_path``.

- :class:`~colorize.models.unet.UNet`: the paper's UNet (Vanilla CGAN).
- :class:`~colorize.models.resnet_unet.ResNetUNet`: timm encoder + PixelShuffle/ICNR decoder (Advanced CGAN).
- :class:`~colorize.models.patchgan.PatchGAN`: the 70x70 PatchGAN discriminator.

Re-exported lazily, so ``import colorize.models`` does not import timm until ResNetUNet is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from colorize.models.patchgan import PatchGAN
    from colorize.models.resnet_unet import ResNetUNet
    from colorize.models.unet import UNet

__all__ = ["PatchGAN", "ResNetUNet", "UNet"]

_MODULES = {"PatchGAN": "patchgan", "ResNetUNet": "resnet_unet", "UNet": "unet"}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
