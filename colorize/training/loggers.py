"""W&B logging that never blocks: online with an API key, offline without one.

A run on a laptop, a CI box or a cluster node without credentials must not stop at a
login prompt. Offline runs are written under the run folder and can be uploaded later
with ``wandb sync``. One run folder is one W&B run: ``fit``, a resumed ``fit``, ``test``
and ``predict`` all log into it (its id is kept in the run folder). Runs that belong
together (``make experiments-sample``) share a W&B group: ``--trainer.logger.init_args.group``
or the ``WANDB_RUN_GROUP`` environment variable.
"""

from __future__ import annotations

import logging
import netrc
import os
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import WandbLogger

log = logging.getLogger(__name__)


def wandb_credentials_available() -> bool:
    """True when W&B could log online: an API key in the environment or in ~/.netrc."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        hosts = netrc.netrc().hosts
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False
    return any("wandb" in host for host in hosts)


class ColorizeWandbLogger(WandbLogger):
    """``WandbLogger`` that goes offline by itself when no credentials are found.

    Args:
        project: W&B project name.
        name: run name; default: the run folder's name (``runs/advanced`` -> ``advanced``).
        save_dir: where ``wandb/`` goes; default: the trainer's ``default_root_dir``
            (filled in by the CLI before the run starts).
        offline: force offline (True) or online (False); None = decide from the credentials
            and ``WANDB_MODE``.
        group: W&B group of the run (runs of one comparison share it); None = W&B's own
            default, the ``WANDB_RUN_GROUP`` environment variable if set.
    """

    def __init__(
        self,
        project: str = "colorize",
        name: str | None = None,
        save_dir: str | None = None,
        offline: bool | None = None,
        log_model: bool = False,
        group: str | None = None,
        **kwargs: Any,
    ) -> None:
        if offline is None:
            mode = os.environ.get("WANDB_MODE", "").lower()
            offline = mode in ("offline", "dryrun", "disabled") or not wandb_credentials_available()
        super().__init__(
            project=project,
            name=name,
            save_dir=save_dir,
            offline=offline,
            log_model=log_model and not offline,
            **({"group": group} if group else {}),
            **kwargs,
        )

    def use_run_folder(self, run_dir: str | Path, create_id: bool = True) -> None:
        """Point an experiment that has not started yet at ``run_dir``: its folder, its name, its run id.

        The W&B run id lives in ``<run_dir>/wandb_run_id``: the first command on a run folder
        (usually ``fit``) writes it, and every later ``fit --ckpt_path last``, ``test`` or
        ``predict`` there resumes that run, so one experiment is one W&B run. ``create_id``:
        whether this process may write the file (rank zero); other ranks only read it.
        """
        if self._experiment is not None:
            return
        run_dir = str(run_dir)
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        if self._wandb_init.get("dir") in (None, "."):
            self._wandb_init["dir"] = self._save_dir = run_dir
        if not self._wandb_init.get("name"):
            self._wandb_init["name"] = self._name = Path(run_dir).resolve().name
        if not self._wandb_init.get("id"):
            run_id = run_id_of(run_dir, create=create_id)
            if run_id is not None:
                self._wandb_init["id"] = self._id = run_id
                self._wandb_init["resume"] = "allow"
        if self._offline:
            log.warning(
                "W&B: no API key, logging offline to %s/wandb — upload later with `wandb sync %s/wandb/offline-run-*`",
                run_dir,
                run_dir,
            )


RUN_ID_FILE = "wandb_run_id"


def run_id_of(run_dir: str | Path, create: bool = True) -> str | None:
    """The W&B run id of a run folder, from ``<run_dir>/wandb_run_id``; made (and written atomically) if missing."""
    path = Path(run_dir) / RUN_ID_FILE
    if path.is_file():
        run_id = path.read_text(encoding="utf-8").strip()
        if run_id:
            return run_id
    if not create:
        return None
    import uuid

    from colorize.atomic import atomic_open

    # W&B ids: letters and digits, at most 64 characters; 16 lowercase hex digits keep them short and unique.
    run_id = uuid.uuid4().hex[:16]
    with atomic_open(path) as handle:
        handle.write(run_id + "\n")
    return run_id
