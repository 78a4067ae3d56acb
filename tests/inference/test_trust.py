"""A shared export or checkpoint builds colorize's own classes only, checked before anything is imported.

Each crafted file names a payload module that exists on ``sys.path`` and writes a marker file when
imported, so a check that let it through would be seen running, not only importing.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
import typing
from pathlib import Path

import pytest
import torch
from torch import nn

from colorize.cli import run_cli
from colorize.inference.colorizer import load_colorizer
from colorize.inference.export import read_export_config
from colorize.inference.trust import CALLABLES, CLASSES, MODEL_CALLABLES, MODEL_CLASS, MODEL_NETWORKS, check_spec
from colorize.training.module import ColorizationGAN

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "before_regroup"
PAYLOAD = "colorize_test_payload"


def crafted_generators(secret: Path) -> dict[str, object]:
    unet = {"class_path": "colorize.models.unet.UNet", "init_args": {"base_width": 4, "depth": 2}}
    resnet = {"class_path": "colorize.models.resnet_unet.ResNetUNet", "init_args": {"pretrained_path": str(secret)}}
    return {
        "string class path": f"{PAYLOAD}.Payload",
        "JSON in a string": json.dumps({"class_path": f"{PAYLOAD}.Payload"}),
        "attribute hop": {"class_path": "colorize.models.unet.nn.Identity"},
        "hop into the payload": {"class_path": f"colorize.models.unet.{PAYLOAD}.Payload"},
        "nested string for a network": {
            "class_path": "colorize.models.mirror_average.MirrorAverage",
            "init_args": {"generator": f"{PAYLOAD}.Payload"},
        },
        "nested JSON string for a network": {
            "class_path": "colorize.models.mirror_average.MirrorAverage",
            "init_args": {"generator": json.dumps({"class_path": f"{PAYLOAD}.Payload"})},
        },
        "nested pretrained_path": {
            "class_path": "colorize.models.mirror_average.MirrorAverage",
            "init_args": {"generator": resnet},
        },
        "hub encoder": {
            "class_path": "colorize.models.resnet_unet.ResNetUNet",
            "init_args": {"encoder": "hf-hub:someone/model"},
        },
        "extra spec key": {**unet, "dict_kwargs": {"x": 1}},
    }


@pytest.fixture
def payload(tmp_path, monkeypatch):
    """A module that would leave ``ran`` behind if anything imported it; the snapshot of sys.modules."""
    folder = tmp_path / "site"
    folder.mkdir()
    marker = tmp_path / "ran"
    (folder / f"{PAYLOAD}.py").write_text(
        f"import pathlib, torch\npathlib.Path({str(marker)!r}).touch()\nPayload = torch.nn.Identity\n"
    )
    monkeypatch.syspath_prepend(str(folder))
    importlib.invalidate_caches()
    secret = tmp_path / "secret.pth"
    secret.write_bytes(b"not for you")
    return marker, secret


def crafted_export(tmp_path: Path, generator: object) -> Path:
    from safetensors.torch import load_file, save_file

    source = FIXTURES / "tiny_before_regroup.safetensors"
    config = dict(read_export_config(source), generator=generator)
    path = tmp_path / "crafted.safetensors"
    save_file(load_file(source), path, metadata={"colorize": json.dumps(config)})
    return path


def crafted_checkpoint(tmp_path: Path, generator: object, **hparams) -> Path:
    checkpoint = torch.load(FIXTURES / "last.ckpt", map_location="cpu", weights_only=True)
    checkpoint["hyper_parameters"] = {**checkpoint["hyper_parameters"], "generator": generator, **hparams}
    path = tmp_path / "crafted.ckpt"
    torch.save(checkpoint, path)
    return path


def assert_refused(call, marker: Path, match: str, error=ValueError) -> str:
    before = set(sys.modules)
    with pytest.raises(error, match=match) as caught:
        call()
    assert set(sys.modules) == before, sorted(set(sys.modules) - before)
    assert not marker.exists()
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("case", list(crafted_generators(Path("x"))))
def test_a_crafted_export_is_refused_before_anything_is_imported(payload, tmp_path, case):
    marker, secret = payload
    path = crafted_export(tmp_path, crafted_generators(secret)[case])
    read_export_config(path)  # the file itself is a well-formed export
    message = assert_refused(lambda: load_colorizer(path), marker, "refusing")
    assert str(path) in message


@pytest.mark.parametrize("case", list(crafted_generators(Path("x"))))
def test_a_crafted_checkpoint_is_refused_before_anything_is_imported(payload, tmp_path, case):
    marker, secret = payload
    path = crafted_checkpoint(tmp_path, crafted_generators(secret)[case])
    message = assert_refused(lambda: load_colorizer(path), marker, "refusing")
    assert str(path) in message


@pytest.mark.parametrize(
    "hparams",
    [
        {"generator_optimizer": f"{PAYLOAD}.Payload"},
        {"generator_optimizer": {"class_path": f"{PAYLOAD}.Payload"}},
        {"perceptual_loss": {"class_path": "colorize.models.unet.nn.Identity"}},
        {"_instantiator": f"{PAYLOAD}.Payload"},
        {"_class_path": f"{PAYLOAD}.Payload"},
        {"gan_mode": json.dumps({"class_path": f"{PAYLOAD}.Payload"})},
    ],
    ids=["optimizer string", "optimizer spec", "loss hop", "instantiator", "_class_path", "JSON in a plain option"],
)
def test_load_from_checkpoint_refuses_foreign_hyperparameters(payload, tmp_path, hparams):
    marker, _ = payload
    generator = torch.load(FIXTURES / "last.ckpt", weights_only=True)["hyper_parameters"]["generator"]
    path = crafted_checkpoint(tmp_path, generator, **hparams)
    assert_refused(lambda: ColorizationGAN.load_from_checkpoint(path, map_location="cpu"), marker, "refusing")


@pytest.mark.parametrize("subcommand", ["predict", "test", "fit"])
def test_the_cli_refuses_a_crafted_checkpoint_in_one_line(payload, tmp_path, subcommand):
    marker, secret = payload
    path = crafted_checkpoint(tmp_path, crafted_generators(secret)["nested pretrained_path"])
    args = [subcommand, "--ckpt_path", str(path), "--trainer.logger=false"]
    args += [f"--trainer.default_root_dir={tmp_path / 'run'}", "--data.root", str(tmp_path)]
    if subcommand == "fit":
        args += ["--config", "vanilla.yaml", "--config", "tiny.yaml"]
    if subcommand == "predict":
        args += ["--input", str(tmp_path), "--output", str(tmp_path / "out")]
    with pytest.raises(SystemExit, match=r"refusing .*pretrained_path='.*secret.pth'") as caught:
        run_cli(args)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_files_written_before_the_regrouping_still_pass():
    """Old class paths (colorize.losses.PerceptualLoss, colorize.module.paper_adam) map through MOVED_MODULES."""
    from colorize.inference.colorizer import check_checkpoint

    check_checkpoint(FIXTURES / "last.ckpt")
    check_spec(read_export_config(FIXTURES / "tiny_before_regroup.safetensors")["generator"], "export")
    assert load_colorizer(FIXTURES / "last.ckpt").image_size == 32


def _takes_objects(annotation: object) -> bool:
    """Whether an init arg's annotation lets jsonargparse build something (a module, a callable, anything)."""
    text = str(annotation)
    return any(word in text for word in ("Module", "Sequential", "Callable", "Any", "object", "type["))


@pytest.mark.parametrize("dotted", sorted(CLASSES) + [MODEL_CLASS])
def test_the_registry_lists_every_argument_that_builds_an_object(dotted):
    """So no init arg of a registered class can smuggle a class path past the check as plain data."""
    module, _, name = dotted.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    assert f"{cls.__module__}.{cls.__qualname__}" == dotted  # the canonical path, no hop
    hints = typing.get_type_hints(cls.__init__)
    parameters = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    object_args = {p for p in parameters if _takes_objects(hints.get(p, typing.Any))}
    if dotted == MODEL_CLASS:
        assert object_args == {*MODEL_NETWORKS, *MODEL_CALLABLES}
    else:
        assert object_args == set(CLASSES[dotted])
        assert issubclass(cls, nn.Module)
    for callable_path in CALLABLES:
        module, _, name = callable_path.rpartition(".")
        assert callable(getattr(importlib.import_module(module), name))
