"""W&B logging that never blocks: online with an API key, offline without one.

A run on a laptop, a CI box or a cluster node without credentials must not stop at a
login prompt. Offline runs are written under the run folder and can be uploaded later
with ``wandb sync``.
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
    """

    def __init__(
        self,
        project: str = "colorize",
        name: str | None = None,
        save_dir: str | None = None,
        offline: bool | None = None,
        log_model: bool = False,
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
            **kwargs,
        )

    def use_run_folder(self, run_dir: str | Path) -> None:
        """Point an experiment that has not started yet at ``run_dir`` (and name it after it)."""
        if self._experiment is not None:
            return
        run_dir = str(run_dir)
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        if self._wandb_init.get("dir") in (None, "."):
            self._wandb_init["dir"] = self._save_dir = run_dir
        if not self._wandb_init.get("name"):
            self._wandb_init["name"] = self._name = Path(run_dir).resolve().name
        if self._offline:
            log.warning(
                "W&B: no API key, logging offline to %s/wandb — upload later with `wandb sync %s/wandb/offline-run-*`",
                run_dir,
                run_dir,
            )
