"""The generator alone, in a file that a stranger can load without running their code.

A Lightning ``.ckpt`` is a pickle: colorize reads it with ``torch.load(weights_only=True)``, but
a pickle read any other way can execute any code its author put in it, and it carries the
discriminator and both optimizers' state, which nobody needs to colorize a photo. The export holds only
what colorizing needs:

- the generator's weights as safetensors (tensors and a JSON header, no code by design);
- its config as JSON in the safetensors header (key ``"colorize"``): the generator's
  ``class_path`` and ``init_args``, the training image size, where it came from (run,
  epoch, step) and, when known, its test results;
- a SHA-256 of the weights, so a file changed after export is refused rather than
  silently loaded.

Building the network from ``class_path`` imports a class and calls it, so only colorize's own
classes (:data:`colorize.inference.trust.CLASSES`, by exact name) are built; any other class
path, string or weight source, in the config or nested in its init args, is refused before
anything is imported (:func:`colorize.inference.trust.check_spec`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from colorize.atomic import atomic_open
from colorize.inference.trust import check_spec, offline_spec

__all__ = [
    "EXPORT_FORMAT",
    "build_module",
    "check_trusted",
    "is_export",
    "offline_spec",
    "read_export",
    "read_export_config",
    "weights_digest",
    "write_export",
]

log = logging.getLogger(__name__)

EXPORT_FORMAT = "colorize.generator/1"
METADATA_KEY = "colorize"
# safetensors files start with an 8-byte little-endian header length, then a JSON header.
_MAX_HEADER = 100 * 1024 * 1024


def is_export(path: str | os.PathLike) -> bool:
    """Whether ``path`` looks like a generator export (by its ``.safetensors`` suffix)."""
    return Path(path).suffix.lower() == ".safetensors"


def check_trusted(spec: Any, where: str) -> None:
    """Refuse ``spec`` unless it builds only colorize's own classes (:func:`colorize.inference.trust.check_spec`).

    Raises:
        ValueError: one line naming ``where`` and the refused value.
    """
    check_spec(spec, where, "generator")


def build_module(spec: Mapping[str, Any], where: str) -> nn.Module:
    """An ``nn.Module`` from ``{"class_path": ..., "init_args": {...}}``, as LightningCLI would build it.

    jsonargparse does the building, so init args of any type the class declares (tuples,
    literals, nested ``class_path`` modules) come out as in training. Pretrained-weight
    options (``pretrained*``) are switched off: the caller loads the trained weights.

    Raises:
        ValueError: naming ``where``, if the spec names anything but colorize's classes or does not build.
    """
    check_trusted(spec, where)  # on the raw spec: parsing a class path imports it
    spec = offline_spec(spec, where)
    from jsonargparse import ArgumentParser

    parser = ArgumentParser(exit_on_error=False)
    parser.add_subclass_arguments(nn.Module, "module", fail_untyped=False, required=True)
    try:
        config = parser.parse_object({"module": spec})
        # `instantiate` replaced `instantiate_classes` in jsonargparse 4.49.
        instantiate = getattr(parser, "instantiate", None) or parser.instantiate_classes
        module = instantiate(config).module
    except Exception as err:  # jsonargparse's and the class's own errors, whatever their type
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{where}: cannot build {spec['class_path']}: {first}") from err
    if not isinstance(module, nn.Module):
        raise ValueError(f"{where}: {spec['class_path']} is not an nn.Module")
    return module


def weights_digest(state_dict: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def write_export(path: str | os.PathLike, generator: nn.Module, config: Mapping[str, Any]) -> Path:
    """Write ``generator``'s weights and ``config`` (JSON-able, holding ``generator``: its spec) to ``path``.

    Written atomically; the format tag and the weights' digest are added to the config.

    Raises:
        ValueError: if ``config`` has no trusted generator spec or is not JSON-able.
    """
    from safetensors.torch import save

    path = Path(path)
    check_trusted(config.get("generator"), f"export {path}")
    # clone: safetensors refuses tensors that share memory (tied or viewed parameters).
    state = {name: tensor.detach().cpu().contiguous().clone() for name, tensor in generator.state_dict().items()}
    header = {**config, "format": EXPORT_FORMAT, "weights_sha256": weights_digest(state)}
    try:
        text = json.dumps(header, sort_keys=True)
    except TypeError as err:
        raise ValueError(f"export {path}: the config is not JSON-able: {err}") from err
    data = save(state, metadata={METADATA_KEY: text})
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    return path


def read_export_config(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON config of an export, read from the safetensors header alone (no weights loaded).

    Raises:
        FileNotFoundError: naming ``path``.
        ValueError: naming ``path`` if it is not a colorize generator export.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no generator export at {path}")
    try:
        with open(path, "rb") as handle:
            size = int.from_bytes(handle.read(8), "little")
            if not 0 < size <= _MAX_HEADER:
                raise ValueError("no safetensors header")
            header = json.loads(handle.read(size))
        text = header.get("__metadata__", {}).get(METADATA_KEY)
        if text is None:
            raise ValueError("its header holds no colorize config")
        config = json.loads(text)
    except (OSError, ValueError, UnicodeDecodeError, AttributeError) as err:
        raise ValueError(f"{path} is not a colorize generator export: {err}") from None
    if not isinstance(config, dict) or config.get("format") != EXPORT_FORMAT:
        found = config.get("format") if isinstance(config, dict) else type(config).__name__
        raise ValueError(f"{path}: unknown export format {found!r}, expected {EXPORT_FORMAT!r}")
    return config


def read_export(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """The generator of an export (eval mode, on ``device``) and its config.

    Raises:
        FileNotFoundError: naming ``path``.
        ValueError: naming ``path`` if it is not an export, names an untrusted class, or its
            weights do not match their digest or the network.
    """
    from safetensors.torch import load_file

    path = Path(path)
    config = read_export_config(path)
    where = f"generator export {path}"
    check_trusted(config.get("generator"), where)
    try:
        state = load_file(str(path), device="cpu")
    except Exception as err:  # safetensors raises its own error types for damaged files
        raise ValueError(f"{where}: unreadable weights: {err}") from None
    if weights_digest(state) != config.get("weights_sha256"):
        raise ValueError(f"{where}: its weights do not match the digest it was exported with; refusing a changed file")
    generator = build_module(config["generator"], where)
    try:
        generator.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ValueError(f"{where}: its weights do not fit {config['generator']['class_path']}: {err}") from None
    return generator.to(device).eval(), config
