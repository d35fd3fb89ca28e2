"""The boot manager: PID 1's one child that runs the system after the root switch.

It reads the full config (the local layer is on the state disk now), sets the
hostname and supervises system Docker and the services until PID 1 sends
SIGTERM, then stops them in order and exits.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from rancheros import config
from rancheros.config.paths import ConfigPaths
from rancheros.manager import hostname
from rancheros.manager.supervisor import Supervisor, install_stop_handler

log = logging.getLogger(__name__)


def local_stage_hook(paths: ConfigPaths) -> Callable[[dict], None] | None:
    """rancheros.cloudinit.local_stage if that module provides it; its failure is one console line."""
    try:
        from rancheros.cloudinit import local_stage
    except ImportError:
        return None

    def run(doc: dict) -> None:
        try:
            local_stage(paths, doc)
        except Exception as e:  # another package's bug must not stop the boot
            log.error("cloud-init local stage failed: %s", e)
    return run


class _Once(logging.Filter):
    """Config is re-read several times per boot; a broken layer is still reported in one line."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if msg in self.seen:
            return False
        self.seen.add(msg)
        return True


def run() -> int:
    """Entry point of the boot manager process."""
    logging.getLogger("rancheros.config.layers").addFilter(_Once())
    stop = threading.Event()
    install_stop_handler(stop)
    paths = ConfigPaths.from_env()
    from rancheros.live import trial
    trial.revert_at_boot(paths)   # a `--try` nobody confirmed before this boot

    def reload() -> dict:
        return config.load(paths)

    doc = reload()
    if config.get(doc, "rancher.debug") is True:
        logging.getLogger("rancheros").setLevel(logging.DEBUG)
    hostname.apply(doc)
    return Supervisor(doc, reload, stop, local_stage=local_stage_hook(paths)).run()
