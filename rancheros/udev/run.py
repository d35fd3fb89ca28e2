"""`ros udev run`: systemd-udevd on the OS's /dev, the devices present at boot replayed (coldplug).

Init already loaded the drivers of the hardware present; what udev adds is the /dev/disk/by-* links
(shared with every system container through system-volumes) and hotplug. Devices that appeared
before udevd listened get their links from replayed `add` events.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import NoReturn

from rancheros.system.command import run_logged

log = logging.getLogger(__name__)

UDEVD = "/lib/systemd/systemd-udevd"
CONTROL = Path("/run/udev/control")  # udevd's socket: it listens once this exists


def coldplug_commands(settle_timeout: int) -> list[list[str]]:
    return [["udevadm", "trigger", "--type=subsystems", "--action=add"],
            ["udevadm", "trigger", "--type=devices", "--action=add"],
            ["udevadm", "settle", f"--timeout={settle_timeout}"]]


def coldplug(settle_timeout: int = 60) -> int:
    """Replay the add events and wait for them; the number of steps that failed (each one logged)."""
    failed = 0
    # Our root is not PID 1's (pid: host), which udevadm takes for a chroot and ignores the request.
    env = {**os.environ, "SYSTEMD_IGNORE_CHROOT": "1"}
    for argv in coldplug_commands(settle_timeout):
        failed += not run_logged(argv, " ".join(argv), timeout=settle_timeout + 30, env=env)
    return failed


def udev_run(udevd: str = UDEVD, control: Path = CONTROL, wait: float = 30.0) -> NoReturn:
    """Become udevd (no Python stays resident); a forked child coldplugs once it listens, then exits.

    udevd reaps the child (it reaps every child, known or not) and gets SIGTERM straight from Docker.
    """
    if os.fork() == 0:
        try:
            deadline = time.monotonic() + wait
            while not control.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            if control.exists():
                failed = coldplug()
                log.info("coldplug done%s", f" ({failed} steps failed)" if failed else "")
            else:
                log.error("udevd did not listen on %s within %.0fs: no coldplug", control, wait)
        finally:
            os._exit(0)
    os.execv(udevd, [udevd])
