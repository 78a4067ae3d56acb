"""The hint path of a generator (Zhang et al. 2017): weights that read hints and start at exactly zero.

A generator that takes hints reads, beside L ``(B, 1, H, W)``, hints ``(B, 3, H, W)``: the
normalized a*b* of hinted pixels (0 elsewhere) and a mask (1 where hinted, 0 elsewhere). They
enter in two ways:

- as 3 more input channels of the convolutions that read the input (the first one, and for
  :class:`~colorize.models.resnet_unet.ResNetUNet` also the full-resolution skip), as Zhang et al.
  feed them: the network sees where hints are and what L looks like around them;
- spread over the whole image (:func:`~colorize.models.hint_spread.spread_hints`), through one
  3x3 convolution per decoder level (``hint_levels``, added before that level's normalization) and
  a 1x1 one added to the head (``hint_head``): the far pixels get a hint's colour without the
  network having to learn to carry it across the image first;
- as a blend at the output (``hint_gate``): a 1x1 convolution of the decoder's last map and the
  spread hints says, per pixel, how much of the spread colour to take over the network's own,
  ``ab + gate · (spread - ab)`` wherever a hint reached, so near a hint the output can be the
  hint's colour exactly (an output through tanh only approaches it) and far from any the
  network's prior stays.

These are modules of their own, so training can give them their own learning rate
(``model.hint_lr_scale``) and never freezes them.

Every hint weight starts at zero, so a fresh hint model computes exactly what the hint-free
network computes, and a hint-free state dict loads into it (:func:`widen_on_load` pads the input
convolutions with zeros and supplies the zero hint modules): a hint-free checkpoint can be
fine-tuned into a hint model. "No hints" is all zeros, so a hint model called without hints colours
as a hint-free one would with its weights.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

from colorize.models.hint_spread import SPREAD_CHANNELS, spread_hints

__all__ = [
    "HINT_CHANNELS",
    "HINT_MODULES",
    "check_hints",
    "blend_with_spread",
    "hint_contributions",
    "hinted_output",
    "new_hint_gate",
    "new_hint_head",
    "new_hint_levels",
    "takes_hints",
    "widen_on_load",
    "with_hints",
    "zero_hint_weights_",
]

#: a*b* (normalized like the generator's output) and the mask.
HINT_CHANNELS = 3

#: The names of a hint generator's modules that read only hints (its own learning rate in training).
HINT_MODULES = ("hint_levels", "hint_head", "hint_gate")


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


def new_hint_levels(widths: Sequence[int]) -> nn.ModuleList:
    """One zero 3x3 convolution per decoder level (``widths``: the levels' output widths, coarsest first)."""
    levels = nn.ModuleList(nn.Conv2d(SPREAD_CHANNELS, width, 3, padding=1, bias=False) for width in widths)
    for conv in levels:
        nn.init.zeros_(conv.weight)
    return levels


def new_hint_head(out_channels: int) -> nn.Conv2d:
    """A zero 1x1 convolution from the spread hints at full resolution to the head's pre-tanh output."""
    head = nn.Conv2d(SPREAD_CHANNELS, out_channels, 1, bias=False)
    nn.init.zeros_(head.weight)
    return head


def new_hint_gate(width: int) -> nn.Conv2d:
    """A zero 1x1 convolution from the decoder's last map (``width`` wide) and the spread hints to the blend's share."""
    gate = nn.Conv2d(width + SPREAD_CHANNELS, 1, 1)
    nn.init.zeros_(gate.weight)
    nn.init.zeros_(gate.bias)
    return gate


def hint_contributions(
    levels: nn.ModuleList, head: nn.Conv2d, hints: torch.Tensor | None, lightness: torch.Tensor
) -> tuple[list[torch.Tensor | None], torch.Tensor | None]:
    """What the hints add to each decoder level (coarsest first, the last at full resolution), then to the head;
    and the spread hints at full resolution (for :func:`blend_with_spread`).

    ``lightness``: the input L ``(B, 1, H, W)``, which guides the spread (edge-aware). The decoder's
    levels must double in resolution and end at the input's, as both generators' do; no hints
    given (None) adds nothing: ``([None] * (len(levels) + 1), None)``.
    """
    if hints is None:
        return [None] * (len(levels) + 1), None
    spread = spread_hints(hints, len(levels), lightness)  # finest first
    added: list[torch.Tensor | None] = [conv(level) for conv, level in zip(levels, reversed(spread), strict=True)]
    added.append(head(spread[0]))
    return added, spread[0]


def blend_with_spread(
    ab: torch.Tensor, features: torch.Tensor, spread: torch.Tensor | None, gate: nn.Conv2d | None
) -> torch.Tensor:
    """``ab + g · (spread ab - ab)``, ``g = gate(cat(features, spread))`` where a hint reached, within [-1, 1].

    ``ab``: the generator's output ``(B, 2, H, W)``; ``features``: the map its head read; ``spread``:
    the full-resolution spread hints (:func:`hint_contributions`), None when no hints were given.
    """
    if spread is None:
        return ab
    # Only where a hint reached: a photo without hints (all zeros, so no confidence anywhere) gets exactly the
    # network's colour, so "no hints" given as zeros and as None colour alike. Not scaled by the confidence
    # itself: the gate reads it, and far pixels may still take much of a good spread (measured: docs/hints.md).
    reached = (spread[:, 2:3] > 0).to(features.dtype)
    share = gate(torch.cat([features, spread.to(features.dtype)], dim=1)) * reached
    return (ab + share * (spread[:, :2].to(ab.dtype) - ab)).clamp(-1, 1)


def hinted_output(
    head: nn.Conv2d,
    features: torch.Tensor,
    added: torch.Tensor | None,
    spread: torch.Tensor | None,
    gate: nn.Conv2d | None,
) -> torch.Tensor:
    """A generator's ab from its decoder's last map: ``tanh(head(features) + added)``, blended with the spread.

    ``added`` and ``spread``: the head's share and the full-resolution spread of
    :func:`hint_contributions`, both None for a hint-free generator or a call without hints (then
    this is ``tanh(head(features))`` and ``gate`` is not used).
    """
    out = head(features)
    if added is not None:
        out = out + added
    return blend_with_spread(torch.tanh(out), features, spread, gate)


def widen_on_load(module: nn.Module, keys: Iterable[str]) -> None:
    """Let ``module`` load a hint-free state dict: the weights named by ``keys`` gain zero hint channels.

    ``keys`` are parameter names relative to ``module`` of convolutions whose input got
    :data:`HINT_CHANNELS` more channels at its end; a loaded tensor that lacks exactly those is
    padded with zeros, so it computes what it computed in the hint-free network. A state dict with
    none of the :data:`HINT_MODULES` weights (hint-free, or from before they existed) gets them as
    zeros, for the same reason.
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
        hint_keys = [key for key in own if key.split(".", 1)[0] in HINT_MODULES]
        if hint_keys and not any(prefix + key in state_dict for key in hint_keys):
            for key in hint_keys:
                state_dict[prefix + key] = torch.zeros_like(own[key])
