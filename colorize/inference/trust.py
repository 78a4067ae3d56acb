"""Which classes a file from someone else may make colorize build: colorize's own, by exact name.

An export's JSON header and a checkpoint's hyperparameters name classes by dotted path, and
building one (jsonargparse, as LightningCLI does) imports its module and calls it with the
arguments the file chooses. jsonargparse also builds from a plain string, from JSON text
inside a string and through an attribute hop (``colorize.models.unet.nn.Identity`` is
``torch.nn.Identity``), so a prefix match on ``class_path`` is no defence. Here the raw spec is
walked before anything sees it, and at every depth:

- a ``class_path`` must be, after mapping a module name from before the regrouping through
  :data:`colorize.MOVED_MODULES`, one of :data:`CLASSES` exactly;
- an init arg that takes a network (:data:`CLASSES` lists them per class) must be such a spec or
  null, never a string; an optimizer callable must be one of :data:`CALLABLES`;
- every other value is plain data, and no string may hold JSON or a remote or local weight
  source (``hf-hub:``, ``local-dir:``, a URL);
- weight sources (:data:`WEIGHT_SOURCES`) are switched off by :func:`offline_spec`: the trained
  weights come from the file itself, never from the network or another file.

Nothing is imported here but :mod:`colorize` itself, so a refused file has imported nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from colorize import MOVED_MODULES

__all__ = [
    "CALLABLES",
    "CLASSES",
    "MODEL_CLASS",
    "OPTIMIZERS",
    "UntrustedSpecError",
    "WEIGHT_SOURCES",
    "canonical",
    "check_model_hparams",
    "check_plain",
    "check_spec",
    "offline_spec",
]

#: colorize's buildable classes (canonical dotted path) -> their init args that take a network spec.
CLASSES: dict[str, tuple[str, ...]] = {
    "colorize.models.unet.UNet": (),
    "colorize.models.patchgan.PatchGAN": (),
    "colorize.models.resnet_unet.ResNetUNet": (),
    "colorize.models.mirror_average.MirrorAverage": ("generator",),
    "colorize.training.losses.PerceptualLoss": ("features",),
}
#: The optimizer factories a checkpoint may name (``model.generator_optimizer``, ...): a dotted path, or
#: one of :data:`OPTIMIZERS` as ``{"class_path", "init_args"}`` (jsonargparse's ``OptimizerCallable``).
CALLABLES = frozenset({"colorize.training.module.paper_adam"})
OPTIMIZERS = frozenset({"torch.optim.Adam", "torch.optim.AdamW", "torch.optim.SGD", "torch.optim.RMSprop"})
#: The LightningModule whose hyperparameters a checkpoint holds, and its network and callable args.
MODEL_CLASS = "colorize.training.module.ColorizationGAN"
MODEL_NETWORKS = ("generator", "discriminator", "perceptual_loss")
MODEL_CALLABLES = ("generator_optimizer", "discriminator_optimizer")
#: What Lightning's ``load_from_checkpoint`` may import to rebuild the model from its hyperparameters.
INSTANTIATOR = "lightning.pytorch.cli.instantiate_module"
#: Init args that fetch or read weights (timm's ``pretrained``, ResNetUNet's ``pretrained_path``/``weights``).
WEIGHT_SOURCES = ("pretrained", "pretrained_path", "weights")

_SPEC_KEYS = frozenset({"class_path", "init_args"})
# timm and huggingface_hub read these prefixes as "fetch from the hub" or "read this folder".
_SOURCE_PREFIX = re.compile(r"^\s*(hf[-_]hub:|local-dir:|[a-z][a-z0-9+.-]*://)", re.IGNORECASE)


class UntrustedSpecError(ValueError):
    """A spec names something colorize does not build from a shared file."""


def canonical(dotted: str) -> str:
    """``colorize.losses.PerceptualLoss`` -> ``colorize.training.losses.PerceptualLoss``; others unchanged."""
    module, _, name = dotted.rpartition(".")
    return f"{MOVED_MODULES[module]}.{name}" if module in MOVED_MODULES else dotted


def _is_weight_source(key: str) -> bool:
    return key.startswith("pretrained") or key in WEIGHT_SOURCES


def _refuse(where: str, at: str, value: Any, why: str) -> UntrustedSpecError:
    shown = repr(value)
    shown = shown if len(shown) <= 120 else shown[:117] + "..."
    return UntrustedSpecError(f"{where}: refusing {at}={shown}: {why}")


def check_plain(value: Any, where: str, at: str) -> None:
    """Plain data only: numbers, booleans, null, strings that are neither JSON nor a weight source.

    Raises:
        UntrustedSpecError (a ValueError): naming ``where``, ``at`` and the value.
    """
    if value is None or isinstance(value, (bool, int, float)):
        return
    if isinstance(value, str):
        if value.lstrip().startswith(("{", "[")):
            raise _refuse(where, at, value, "JSON inside a string is parsed as a spec; give plain values")
        if _SOURCE_PREFIX.match(value):
            raise _refuse(where, at, value, "weights come from the file itself, never from the hub, a URL or a folder")
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            check_plain(item, where, f"{at}[{i}]")
        return
    if isinstance(value, Mapping):
        if "class_path" in value:
            raise _refuse(where, at, value.get("class_path"), "only network arguments may name a class")
        for key, item in value.items():
            check_plain(item, where, f"{at}.{key}")
        return
    raise _refuse(where, at, value, f"a {type(value).__name__} is not plain data")


def check_spec(spec: Any, where: str, at: str = "class_path") -> None:
    """Refuse ``spec`` unless every class it names, at any depth, is one of :data:`CLASSES`.

    Args:
        spec: ``{"class_path": ..., "init_args": {...}}`` as read from the file, untouched.
        where: the file, for the message (``"generator export x.safetensors"``).
        at: the option the spec sits at, for the message.

    Raises:
        UntrustedSpecError (a ValueError): one line naming ``where``, the option and the value.
    """
    if not isinstance(spec, Mapping):
        why = "a network is given as {'class_path': ..., 'init_args': {...}}, never as a string"
        raise _refuse(where, at, spec, why)
    extra = set(spec) - _SPEC_KEYS
    if extra:
        raise _refuse(where, at, sorted(extra), "a network spec holds only class_path and init_args")
    class_path = spec.get("class_path")
    if not isinstance(class_path, str) or canonical(class_path) not in CLASSES:
        where_at = f"{at}.class_path" if not at.endswith("class_path") else at
        raise _refuse(where, where_at, class_path, "only colorize's own classes are built from a shared file")
    init_args = spec.get("init_args") or {}
    if not isinstance(init_args, Mapping):
        raise _refuse(where, f"{at}.init_args", init_args, "init_args must be a mapping")
    _check_init_args(init_args, CLASSES[canonical(class_path)], (), where, _prefix(at))


def _prefix(at: str) -> str:
    return at.removesuffix(".class_path").removesuffix("class_path") or "spec"


def _check_init_args(
    init_args: Mapping[str, Any], networks: tuple[str, ...], callables: tuple[str, ...], where: str, at: str
) -> None:
    for key, value in init_args.items():
        if not isinstance(key, str):
            raise _refuse(where, at, key, "argument names are strings")
        name = f"{at}.init_args.{key}" if at != "model" else f"model.{key}"
        if key in networks:
            if value is not None:
                check_spec(value, where, name)
        elif key in callables:
            _check_callable(value, where, name)
        elif _is_weight_source(key) and not (value is None or isinstance(value, bool)):
            # A flag is switched off by offline_spec; a file or package name is refused.
            raise _refuse(where, name, value, "weights come from the file itself, never from another file or package")
        else:
            check_plain(value, where, name)


def _check_callable(value: Any, where: str, at: str) -> None:
    if isinstance(value, str) and canonical(value) in CALLABLES:
        return
    if isinstance(value, Mapping) and set(value) <= _SPEC_KEYS and value.get("class_path") in OPTIMIZERS:
        check_plain(value.get("init_args") or {}, where, f"{at}.init_args")
        return
    raise _refuse(where, at, value, "only colorize's optimizer factories and torch.optim's optimizers are used")


def check_model_hparams(hparams: Mapping[str, Any], where: str) -> None:
    """Refuse a checkpoint's ``hyper_parameters`` (:data:`MODEL_CLASS`'s init args) that name anything foreign.

    ``_instantiator``, which Lightning's ``load_from_checkpoint`` imports and calls, must be
    LightningCLI's; other ``_``-keys are Lightning's bookkeeping and must be plain data.
    """
    if not isinstance(hparams, Mapping):
        raise _refuse(where, "hyper_parameters", type(hparams).__name__, "must be a mapping")
    instantiator = hparams.get("_instantiator")
    if instantiator is not None and instantiator != INSTANTIATOR:
        raise _refuse(where, "hyper_parameters._instantiator", instantiator, f"only {INSTANTIATOR} rebuilds a model")
    for key in hparams:
        if isinstance(key, str) and key.startswith("_") and key != "_instantiator":
            # Lightning reads _class_path as the class to build.
            raise _refuse(where, f"hyper_parameters.{key}", hparams[key], "not written by colorize fit")
    rest = {k: v for k, v in hparams.items() if k != "_instantiator"}
    _check_init_args(rest, MODEL_NETWORKS, MODEL_CALLABLES, where, "model")


def _switched_off(init_args: Mapping[str, Any], networks: tuple[str, ...]) -> dict[str, Any]:
    out = {}
    for key, value in init_args.items():
        if isinstance(key, str) and _is_weight_source(key):
            out[key] = False if isinstance(value, bool) else None
        elif key in networks and isinstance(value, Mapping) and isinstance(value.get("class_path"), str):
            out[key] = _offline(value)
        else:
            out[key] = value
    return out


def _offline(spec: Mapping[str, Any]) -> dict[str, Any]:
    networks = CLASSES.get(canonical(spec["class_path"]), ())
    init_args = spec.get("init_args")
    return {
        "class_path": spec["class_path"],
        "init_args": _switched_off(init_args, networks) if isinstance(init_args, Mapping) else init_args,
    }


def offline_spec(spec: Any, where: str) -> dict[str, Any]:
    """A copy of ``{"class_path", "init_args"}`` with every weight source off, at every depth.

    The trained weights are in the file: rebuilding its networks must not fetch pretrained ones
    (offline it cannot) nor read another file (``pretrained_path``).

    Raises:
        ValueError: naming ``where`` if ``spec`` is not a ``{"class_path": str, ...}`` mapping.
    """
    if not isinstance(spec, Mapping) or not isinstance(spec.get("class_path"), str):
        raise ValueError(f"{where}: a module spec must be {{'class_path': ..., 'init_args': {{...}}}}, got {spec!r}")
    return _offline(spec)
