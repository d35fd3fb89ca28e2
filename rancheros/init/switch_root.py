"""Make the new root `/` for PID 1 (and so for everything it starts), the way switch_root(8) does.

The kernel file systems move along, the new root is moved over `/` and PID 1
chroots into it; PID 1 then deletes the initrd's files (root.clear_initrd).
"""

from __future__ import annotations

import logging
import os

from rancheros.system import libc
from rancheros.init.mounts import API_MOUNTS

log = logging.getLogger(__name__)


def switch_root(newroot: str) -> None:
    """Move /proc, /sys, /dev, /run under `newroot`, move it onto `/`, chroot there."""
    for m in API_MOUNTS:
        target = newroot + m
        os.makedirs(target, exist_ok=True)
        libc.mount(m, target, None, libc.MS_MOVE)
    os.chdir(newroot)
    libc.mount(newroot, "/", None, libc.MS_MOVE)
    os.chroot(".")
    os.chdir("/")


def ensure_layout() -> None:
    """Paths Docker and the services expect in any root: /tmp, /var/run -> /run, /etc/resolv.conf, /etc/hosts."""
    os.makedirs("/tmp", exist_ok=True)
    os.chmod("/tmp", 0o1777)
    os.makedirs("/var", exist_ok=True)
    if not os.path.lexists("/var/run"):
        os.symlink("/run", "/var/run")
    os.makedirs("/etc", exist_ok=True)
    # Bind-mounted into service containers: must exist as files, or Docker creates directories there.
    for path, text in (("/etc/resolv.conf", ""), ("/etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost\n")):
        if not os.path.lexists(path):
            with open(path, "w") as f:
                f.write(text)
