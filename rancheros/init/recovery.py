"""A fatal early error: say why and give the operator a shell on the console, never a kernel panic.

This runs as PID 1's supervised child. With `panic=N` (N != 0) on the kernel
command line it asks PID 1 to reboot after N seconds instead (at once for N < 0),
as the kernel does after a panic of its own. The shell is a child of this
process, not exec'd in its place: an interactive shell ignores SIGTERM, so PID
1's orderly stop (what `reboot` asks for) would wait out its stop timeout; here
SIGTERM kills the shell's session at once and the reboot goes on.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import termios
import time
from typing import NoReturn

try:
    from rancheros.init.root import NEWROOT
except Exception:  # the recovery shell must work when the boot modules are what is broken
    NEWROOT = "/newroot"

log = logging.getLogger(__name__)

# argv for each candidate: busybox's own sh first, then busybox called by name; the last one for a boot
# that failed while moving the OS into the new root (busybox may already be there).
SHELLS = (("/bin/sh", ["sh", "-i"]), ("/bin/busybox", ["busybox", "sh", "-i"]),
          (f"{NEWROOT}/usr/bin/busybox", ["busybox", "sh", "-i"]))

ADVICE = "rancheros: recovery shell; fix the cause above, then `reboot -f` (or exit to get a new shell)"
_PANIC_MAX = 2**31 - 1


def read_cmdline() -> str:
    """The kernel command line (ROS_CMDLINE names another file, for tests); empty when unreadable."""
    try:
        with open(os.environ.get("ROS_CMDLINE", "/proc/cmdline"), encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def panic_timeout(cmdline: str) -> int | None:
    """`panic=N` of a kernel command line (the last valid one, as the kernel's parser keeps); None without one."""
    found = None
    for word in cmdline.replace('"', "").split():
        if word == "--":
            break
        name, eq, value = word.partition("=")
        if name != "panic" or not eq:
            continue
        value = value.strip()
        try:
            n = int(value, 16) if value.lower().startswith(("0x", "-0x")) else int(value, 10)
        except ValueError:
            continue
        if -_PANIC_MAX - 1 <= n <= _PANIC_MAX:
            found = n
    return found


def _panic_reboot(seconds: int) -> NoReturn:
    """Ask PID 1 (our parent) for an orderly reboot after `seconds`; its SIGTERM ends this process."""
    when = "now" if seconds < 0 else f"in {seconds}s"
    log.error("rebooting %s (panic=%d on the kernel command line)", when, seconds)
    for h in logging.getLogger("rancheros").handlers:
        h.flush()
    if seconds > 0:
        time.sleep(seconds)
    os.kill(os.getppid(), signal.SIGUSR1)
    while True:
        signal.pause()


def _exec_shell(console: str, path: str, argv: list[str]) -> NoReturn:
    """Child: own the console as controlling terminal, print the advice, exec the shell; 127 if that fails."""
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
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
        os.write(1, (ADVICE + "\n").encode())
        env = {"PATH": "/sbin:/usr/sbin:/bin:/usr/bin", "HOME": "/", "TERM": os.environ.get("TERM", "linux"),
               "PS1": "(recovery) # "}
        os.execve(path, argv, env)
    except BaseException as e:
        try:
            log.error("recovery shell %s: %s", path, e)
        finally:
            os._exit(127)
    os._exit(127)


def shell(console: str = "/dev/console") -> int:
    """The recovery shell on `console` as this process's child; its exit status, or 0 after SIGTERM ended it."""
    seconds = panic_timeout(read_cmdline())
    if seconds:
        _panic_reboot(seconds)
    found = next(((p, a) for p, a in SHELLS if os.path.exists(p)), None)
    if found is None:
        log.error("no shell found (%s); the console stays as it is", ", ".join(p for p, _ in SHELLS))
        while True:
            signal.pause()
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    pid = os.fork()
    if pid == 0:
        _exec_shell(console, *found)

    def on_term(signum, frame) -> None:
        """Kill the shell's whole session: it ignores SIGTERM, and so may what it runs."""
        for target in (-pid, pid):
            try:
                os.kill(target, signal.SIGKILL)
            except OSError:
                pass

    signal.signal(signal.SIGTERM, on_term)
    signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
    _pid, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 0
