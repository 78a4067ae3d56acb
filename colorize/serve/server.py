"""``colorize serve``: start the local colorization page.

    colorize serve                               # the runs under runs/, newest first
    colorize serve --ckpt_path runs/demo         # a run: the checkpoint its results.json was measured with
    colorize serve --ckpt_path demo.safetensors --port 8080
    colorize serve --host 0.0.0.0                # reachable from other machines: say so explicitly

Why 127.0.0.1 by default: the page accepts files and runs a model on them; on a shared or
public network nobody else should be able to do that unless the person starting it asks.
Requests whose ``Host`` is not a loopback name, the address the server is bound to, or a
name given with ``--allow-host`` are refused, so a web page elsewhere cannot reach the
server through DNS rebinding, on ``--host 0.0.0.0`` as well:

    colorize serve --host 0.0.0.0 --allow-host mybox.local --allow-host 192.168.1.20
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from colorize.serve.catalog import Catalog, ModelChoice, find_runs, run_checkpoint, unique_choices
from colorize.serve.uploads import PhotoStore, UploadLimits

__all__ = ["DEFAULT_HOST", "allowed_hosts", "build_app", "is_loopback", "main", "parse_args"]

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
LOOPBACK_HOST_HEADERS = ["127.0.0.1", "localhost", "[::1]"]


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` keeps the server reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="colorize serve",
        description="Serve a local web page that colorizes uploaded photos (no network needed).",
    )
    parser.add_argument(
        "--ckpt_path",
        "--ckpt-path",
        action="append",
        default=[],
        metavar="PATH",
        help="a .ckpt, a .safetensors generator export or a run folder to offer (repeat for several); "
        "default: every run under --runs",
    )
    parser.add_argument(
        "--runs",
        default=None,
        metavar="DIR",
        help="offer every run under DIR with a checkpoint (default: runs, when no --ckpt_path is given)",
    )
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to listen on (default {DEFAULT_HOST}: this machine only; 0.0.0.0: every network)",
    )
    parser.add_argument(
        "--allow-host",
        "--allow_host",
        dest="allow_host",
        action="append",
        default=[],
        metavar="NAME",
        help="a host name or address the page may be opened by, besides the loopback names (repeat for several); "
        "needed with --host 0.0.0.0 to reach it from other machines",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free)")
    parser.add_argument("--device", default="cpu", help="where the models run: cpu (default), cuda, cuda:1, ...")
    parser.add_argument("--max_upload_mb", type=float, default=50.0, help="largest file accepted, MB (default 50)")
    parser.add_argument(
        "--max_megapixels", type=float, default=100.0, help="largest photo accepted, megapixels (default 100)"
    )
    parser.add_argument(
        "--max_store_mb",
        type=float,
        default=2000.0,
        help="what the photos held and their pictures may weigh together, MB; beyond it the least recently "
        "used are removed (default 2000)",
    )
    return parser


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    args = build_parser().parse_args(list(argv))
    if not 0 <= args.port <= 65535:
        raise SystemExit(f"colorize serve: --port must be from 0 to 65535, got {args.port}")
    if args.max_upload_mb <= 0 or args.max_megapixels <= 0 or args.max_store_mb <= 0:
        raise SystemExit("colorize serve: --max_upload_mb, --max_megapixels and --max_store_mb must be positive")
    for name in args.allow_host:
        if not name or "/" in name or name.strip() != name:
            raise SystemExit(f"colorize serve: --allow-host {name!r}: give a host name or address, e.g. mybox.local")
    return args


def model_choices(ckpt_paths: Sequence[str], runs: str | None) -> list[ModelChoice]:
    """The menu: the ``--ckpt_path`` entries in order, then the runs under ``runs`` (``runs/`` when nothing is given).

    Raises:
        SystemExit: naming a ``--ckpt_path`` that does not exist, or saying what to do when nothing is found.
    """
    choices = []
    for raw in ckpt_paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise SystemExit(f"colorize serve: --ckpt_path {raw}: no such file or folder")
        if path.is_dir():
            checkpoint = run_checkpoint(path)
            if checkpoint is None:
                raise SystemExit(
                    f"colorize serve: --ckpt_path {raw}: a folder without checkpoints/last.ckpt or best.ckpt"
                )
            choices.append(ModelChoice(path.resolve().name, checkpoint))
            continue
        # runs/demo/checkpoints/last.ckpt is best called "demo".
        label = path.parent.parent.resolve().name if path.parent.name == "checkpoints" else path.stem
        choices.append(ModelChoice(label or str(path), path))
    if runs is not None or not ckpt_paths:
        root = runs if runs is not None else "runs"
        choices += find_runs(root)
        if not choices:
            raise SystemExit(
                f"colorize serve: no model: no --ckpt_path given and no run with checkpoints/*.ckpt under "
                f"{root}/; train one first (make demo) or pass --ckpt_path"
            )
    return unique_choices(choices)


def load_default(catalog: Catalog, explicit: int) -> None:
    """Load the first model of the menu that loads, and make it the default.

    A ``--ckpt_path`` the user named (the first ``explicit`` entries) must load: failing is
    what they want to hear at once. A run merely found under ``runs/`` (a crashed or
    half-written one) is skipped with a warning, and stays in the menu saying why it fails.

    Raises:
        SystemExit: naming the checkpoint, when a named one fails or none loads.
    """
    first_error = None
    for index, choice in enumerate(catalog.choices):
        try:
            catalog.get(index)
        except Exception as err:
            if index < explicit:
                raise SystemExit(f"colorize serve: cannot load {choice.path}: {err}") from None
            log.warning("colorize serve: cannot load %s, skipping it: %s", choice.path, err)
            first_error = first_error or f"{choice.path}: {err}"
            continue
        catalog.default = index
        return
    raise SystemExit(f"colorize serve: no model could be loaded; the first error: {first_error}")


def build_app(args: argparse.Namespace, catalog: Catalog | None = None):
    """The app for parsed ``args``, its default model already loaded: a bad checkpoint fails here, not on the page."""
    from colorize.serve.app import create_app

    if catalog is None:
        catalog = Catalog(model_choices(args.ckpt_path, args.runs), device=args.device)
    load_default(catalog, explicit=len(args.ckpt_path))
    limits = UploadLimits(max_bytes=int(args.max_upload_mb * 1e6), max_pixels=int(args.max_megapixels * 1e6))
    store = PhotoStore(limits, max_store_bytes=int(args.max_store_mb * 1e6))
    return create_app(catalog, store, allowed_hosts=allowed_hosts(args.host, args.allow_host))


def allowed_hosts(host: str, allow: Sequence[str] = ()) -> list[str]:
    """The ``Host`` names the server answers: loopback, the address it is bound to (unless a wildcard), ``allow``."""
    names = [*LOOPBACK_HOST_HEADERS]
    if host not in ("0.0.0.0", "::", "") and not is_loopback(host):
        names.append(f"[{host}]" if ":" in host else host)
    names += [name.lower() for name in allow]
    return list(dict.fromkeys(names))


def main(argv: Sequence[str] | None = None) -> int:
    import uvicorn

    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    app = build_app(args)
    if not is_loopback(args.host):
        log.warning("colorize serve: listening on %s: anyone who can reach this machine can use the page", args.host)
        log.info("colorize serve: it answers to %s only", ", ".join(allowed_hosts(args.host, args.allow_host)))
    if args.port:
        shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
        log.info("colorize serve: open http://%s:%d/ (Ctrl+C stops it)", shown, args.port)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", access_log=False, server_header=False)
    return 0
