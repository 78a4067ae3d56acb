"""The ``colorize serve`` command: options, the model menu it builds, and the loopback-only default."""

from __future__ import annotations

import os
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from colorize.cli import main as colorize_main
from colorize.serve.catalog import Catalog, ModelChoice
from colorize.serve.server import DEFAULT_HOST, build_app, is_loopback, model_choices, parse_args


def fake_catalog(fake_colorizer_class) -> Catalog:
    colorizer = fake_colorizer_class()
    return Catalog([ModelChoice("fake", Path("fake"))], loader=lambda path, device: colorizer)


def touch_run(root: Path, name: str, mtime: float) -> Path:
    checkpoint = root / name / "checkpoints" / "best.ckpt"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"")
    os.utime(checkpoint, (mtime, mtime))
    return checkpoint


def test_defaults_listen_on_loopback_only():
    args = parse_args([])
    assert args.host == DEFAULT_HOST == "127.0.0.1" and args.port == 8000
    assert is_loopback(args.host)
    assert parse_args(["--host", "0.0.0.0", "--port", "9000"]).host == "0.0.0.0"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.0.2", True), ("localhost", True), ("::1", True), ("[::1]", True),
     ("0.0.0.0", False), ("::", False), ("192.168.1.4", False), ("example.org", False)],
)  # fmt: skip
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--port", "70000"], "--port"), (["--max_upload_mb", "0"], "--max_upload_mb")],
)
def test_bad_options_are_named(argv, message):
    with pytest.raises(SystemExit, match=message):
        parse_args(argv)


def test_menu_is_the_given_checkpoints_then_the_runs_newest_first(tmp_path):
    old = touch_run(tmp_path / "runs", "vanilla", 1_000)
    new = touch_run(tmp_path / "runs", "sample/advanced", 2_000)
    touch_run(tmp_path / "runs", ".hidden", 3_000)
    assert model_choices([], str(tmp_path / "runs")) == [
        ModelChoice("sample/advanced", new),
        ModelChoice("vanilla", old),
    ]
    # A checkpoint given by path comes first, and is not listed twice.
    assert [c.label for c in model_choices([str(old)], str(tmp_path / "runs"))] == ["vanilla", "sample/advanced"]
    assert [c.label for c in model_choices([str(old)], None)] == ["vanilla"]


def test_no_model_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match=r"no run with checkpoints/\*.ckpt under runs/.*make demo"):
        model_choices([], None)
    with pytest.raises(SystemExit, match="--ckpt_path nowhere.ckpt: no such file"):
        model_choices(["nowhere.ckpt"], None)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="--ckpt_path empty: a folder without checkpoints"):
        model_choices(["empty"], None)


def test_a_run_folder_stands_for_its_tested_checkpoint(tmp_path):
    best = touch_run(tmp_path / "runs", "demo", 1_000)
    last = best.with_name("last.ckpt")
    last.write_bytes(b"")
    assert model_choices([str(tmp_path / "runs" / "demo")], None) == [ModelChoice("demo", last)]
    assert model_choices([str(best)], None) == [ModelChoice("demo", best)]


def test_an_unloadable_checkpoint_fails_at_start_naming_it(tmp_path):
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit, match=f"cannot load {broken}"):
        build_app(parse_args(["--ckpt_path", str(broken)]))


def test_help_is_reachable_from_the_colorize_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        colorize_main(["serve", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--ckpt_path" in out and "127.0.0.1" in out


def outside_address() -> str | None:
    """This machine's address on a non-loopback interface, if it has one (nothing is sent anywhere)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: a UDP connect only picks the outgoing interface
            address = probe.getsockname()[0]
        except OSError:
            address = None
    if address and not address.startswith("127.") and address != "0.0.0.0":
        return address
    try:
        address = socket.gethostbyname(socket.gethostname())
    except OSError:
        return None
    return None if address.startswith("127.") else address


def can_connect(host: str, port: int) -> bool:
    deadline = time.monotonic() + 2
    while True:
        try:
            with socket.create_connection((host, port), timeout=2):
                return True
        except ConnectionRefusedError:
            return False
        except OSError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)


def test_the_default_server_refuses_connections_from_outside_localhost(serve_in_thread, fake_colorizer_class):
    address = outside_address()
    if address is None:
        pytest.skip("this machine has no non-loopback network address to connect from")
    default = parse_args([])
    with serve_in_thread(build_app(default, fake_catalog(fake_colorizer_class)), host=default.host) as port:
        assert can_connect("127.0.0.1", port)
        assert not can_connect(address, port)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/models", timeout=10) as answer:
            assert answer.status == 200
    # The check can tell: with --host 0.0.0.0 the same address does connect (when the name is allowed).
    everywhere = parse_args(["--host", "0.0.0.0", "--allow-host", address])
    with serve_in_thread(build_app(everywhere, fake_catalog(fake_colorizer_class)), host=everywhere.host) as port:
        assert can_connect(address, port)
        with urllib.request.urlopen(f"http://{address}:{port}/api/models", timeout=10) as answer:
            assert answer.status == 200


def test_a_loopback_server_refuses_a_foreign_host_header(serve_in_thread, fake_colorizer_class):
    args = parse_args([])
    with serve_in_thread(build_app(args, fake_catalog(fake_colorizer_class))) as port:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Host": "rebound.example"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 400


def runs_with_a_broken_newest_run(tiny_run, root: Path) -> Path:
    """runs/good (a trained run) and runs/broken (newer, its checkpoint half written)."""
    import shutil

    shutil.copytree(tiny_run, root / "good")
    os.utime(root / "good" / "checkpoints" / "best.ckpt", (1_000, 1_000))
    broken = root / "broken" / "checkpoints" / "best.ckpt"
    broken.parent.mkdir(parents=True)
    broken.write_bytes((root / "good" / "checkpoints" / "best.ckpt").read_bytes()[:1000])
    return root


def test_a_broken_run_found_under_runs_is_skipped_not_fatal(tiny_run, tmp_path):
    from starlette.testclient import TestClient

    runs = runs_with_a_broken_newest_run(tiny_run, tmp_path / "runs")
    app = build_app(parse_args(["--runs", str(runs)]))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        menu = client.get("/api/models").json()
        assert [m["label"] for m in menu["models"]] == ["broken", "good"]
        assert menu["default"] == 1
        assert client.get("/api/models/1").json()["name"] == "good"
        failed = client.get("/api/models/0")
        assert failed.status_code == 500 and failed.json()["error"].startswith("cannot load model broken: ")
    # Named on the command line, the same checkpoint stops the start.
    with pytest.raises(SystemExit, match="cannot load .*broken"):
        build_app(parse_args(["--ckpt_path", str(runs / "broken" / "checkpoints" / "best.ckpt"), "--runs", str(runs)]))
