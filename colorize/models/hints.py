"""The hint path of a generator (Zhang et al. 2017): extra input channels that start at exactly zero.

A generator that takes hints reads, beside L ``(B, 1, H, W)``, hints ``(B, 3, H, W)``: the
normalized a*b* of hinted pixels (0 elsewhere) and a mask (1 where hinted, 0 elsewhere). They
enter as 3 more input channels of the convolutions that read the input (the first one, and for
:class:`~colorize.models.resnet_unet.ResNetUNet` also the full-resolution skip). Their weights start
at zero, so a fresh hint model computes exactly what the hint-free network computes, and a
hint-free state dict loads into it (:func:`widen_on_load` pads those weights with zeros): a
hint-free checkpoint can be fine-tuned into a hint model. "No hints" is all zeros, so a hint model
called without hints colours as a hint-free one would with its weights.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

__all__ = ["HINT_CHANNELS", "check_hints", "takes_hints", "widen_on_load", "with_hints", "zero_hint_weights_"]

#: a*b* (normalized like the generator's output) and the mask.
HINT_CHANNELS = 3


def takes_hints(generator: nn.Module) -> bool:
    """Whether ``generator`` (or the network it wraps) reads hints beside L."""
    return bool(getattr(generator, "takes_hints", False))


def check_hints(hints: torch.Tensor | None, x: torch.Tensor, name: str, accepted: bool) -> torch.Tensor | None:
    """Validate ``hints`` against the input ``x``; None stays None (the caller colours without hints).

    Raises ``ValueError`` naming the shape got, or that ``name`` was built without a hint path.
    """
    if hints is None:
        return None
    if not accepted:
        raise ValueError(f"{name} was built without hints (hints: false) and cannot take them")
    b, _, h, w = x.shape
    if hints.ndim != 4 or tuple(hints.shape) != (b, HINT_CHANNELS, h, w):
        raise ValueError(f"{name} expects hints of shape ({b}, {HINT_CHANNELS}, {h}, {w}), got {tuple(hints.shape)}")
    return hints


def with_hints(x: torch.Tensor, hints: torch.Tensor | None) -> torch.Tensor:
    """``cat(x, hints)``, with all-zero hints (none given) when ``hints`` is None."""
    if hints is None:
        hints = x.new_zeros((x.shape[0], HINT_CHANNELS, *x.shape[-2:]))
    # In x's dtype and layout: the convolution reads the concatenation in one go.
    return torch.cat([x, hints.to(x.dtype)], dim=1)


@torch.no_grad()
def zero_hint_weights_(conv: nn.Conv2d) -> None:
    """Zero the weights of ``conv``'s last :data:`HINT_CHANNELS` input channels: the hint path starts silent."""
    conv.weight[:, -HINT_CHANNELS:].zero_()


def widen_on_load(module: nn.Module, keys: Iterable[str]) -> None:
    """Let ``module`` load a hint-free state dict: the weights named by ``keys`` gain zero hint channels.

    ``keys`` are parameter names relative to ``module`` of convolutions whose input got
    :data:`HINT_CHANNELS` more channels at its end; a loaded tensor that lacks exactly those is
    padded with zeros, so it computes what it computed in the hint-free network.
    """
    module.register_load_state_dict_pre_hook(_WidenHook(tuple(keys)))


class _WidenHook:
    """A picklable/deep-copyable pre-hook (no reference to the module: copies of it keep working)."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.keys = keys

    def __call__(self, module, state_dict, prefix, *args) -> None:
        own = dict(module.named_parameters())
        for key in self.keys:
            loaded = state_dict.get(prefix + key)
            expected = own.get(key)
            if loaded is None or expected is None or loaded.ndim != 4:
                continue
            if loaded.shape[1] + HINT_CHANNELS == expected.shape[1] and loaded.shape[0] == expected.shape[0]:
                zeros = loaded.new_zeros((loaded.shape[0], HINT_CHANNELS, *loaded.shape[2:]))
                state_dict[prefix + key] = torch.cat([loaded, zeros], dim=1)
