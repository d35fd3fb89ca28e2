"""A fatal early error: say why and give the operator a shell on the console, never a kernel panic."""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import termios

from rancheros.init.root import NEWROOT

log = logging.getLogger(__name__)

# argv for each candidate: busybox's own sh first, then busybox called by name; the last one for a boot
# that failed while moving the OS into the new root (busybox may already be there).
SHELLS = (("/bin/sh", ["sh", "-i"]), ("/bin/busybox", ["busybox", "sh", "-i"]),
          (f"{NEWROOT}/usr/bin/busybox", ["busybox", "sh", "-i"]))


def shell(console: str = "/dev/console") -> int:
    """Exec a shell owning the console (run as PID 1's supervised child; PID 1 restarts it on exit)."""
    os.setsid()
    fd = os.open(console, os.O_RDWR)
    try:
        fcntl.ioctl(fd, termios.TIOCSCTTY, 1)
    except OSError:
        pass  # still usable without job control
    for target in (0, 1, 2):
        os.dup2(fd, target)
    if fd > 2:
        os.close(fd)
    print("rancheros: recovery shell; fix the cause above, then `reboot -f` (or exit to get a new shell)",
          flush=True)
    env = {"PATH": "/sbin:/usr/sbin:/bin:/usr/bin", "HOME": "/", "TERM": os.environ.get("TERM", "linux"),
           "PS1": "(recovery) # "}
    for path, argv in SHELLS:
        if os.path.exists(path):
            os.execve(path, argv, env)
    log.error("no shell found (%s); the console stays as it is", ", ".join(p for p, _ in SHELLS))
    while True:
        signal.pause()
