"""The last steps of PID 1: end every process, sync, unmount, reboot(2).

The orderly part (services in reverse order, then dockerd) is the boot
manager's job when PID 1 sends it SIGTERM; what remains here runs in PID 1
after the manager is gone, so nothing else can still be writing.
"""

from __future__ import annotations

import enum
import logging
import os
import signal
import time
from dataclasses import dataclass

from rancheros.init import libc

log = logging.getLogger(__name__)


class Action(enum.Enum):
    """What the machine does once everything is stopped."""

    POWEROFF = ("powering off", libc.RB_POWER_OFF)
    REBOOT = ("rebooting", libc.RB_AUTOBOOT)
    HALT = ("halting", libc.RB_HALT_SYSTEM)

    def __init__(self, words: str, cmd: int):
        self.words = words
        self.cmd = cmd


# SIGINT is what the kernel sends PID 1 on ctrl-alt-del once RB_DISABLE_CAD is set.
SIGNAL_ACTIONS: dict[int, Action] = {
    signal.SIGTERM: Action.POWEROFF,
    signal.SIGPWR: Action.POWEROFF,
    signal.SIGINT: Action.REBOOT,
    signal.SIGUSR1: Action.REBOOT,
    signal.SIGUSR2: Action.HALT,
}

# Kernel file systems: never unmounted, a read-only remount means nothing to them.
_PSEUDO_FS = {"proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "mqueue", "securityfs",
              "debugfs", "tracefs", "pstore", "bpf", "configfs", "fusectl", "hugetlbfs", "binfmt_misc",
              "efivarfs", "autofs", "nsfs", "rootfs"}


@dataclass(frozen=True)
class MountEntry:
    """One line of /proc/self/mountinfo, the fields shutdown cares about."""

    target: str
    fstype: str
    source: str


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal."""
    return field.encode().decode("unicode_escape") if "\\" in field else field


def parse_mountinfo(text: str) -> list[MountEntry]:
    """Mounts in the order the kernel lists them (parents before the mounts on top of them)."""
    entries = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        lf, rf = left.split(), right.split()
        if len(lf) < 5 or len(rf) < 2:
            continue
        entries.append(MountEntry(target=_unescape(lf[4]), fstype=rf[0], source=_unescape(rf[1])))
    return entries


def unmount_order(mounts: list[MountEntry]) -> list[MountEntry]:
    """Mounts to take down, top-most first: everything but `/` and kernel file systems."""
    return [m for m in reversed(mounts) if m.target != "/" and m.fstype not in _PSEUDO_FS]


def describe_status(status: int) -> str:
    """A wait status as words for the console."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return f"killed by {name}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"


def reap_all() -> list[tuple[int, int]]:
    """Collect every exited child without blocking; returns (pid, status) pairs."""
    reaped = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped.append((pid, status))


def _has_children() -> bool:
    try:
        pid, status = os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return False
    return True if pid == 0 else _has_children()


def end_all_processes(grace: float) -> None:
    """SIGTERM to every process, up to `grace` seconds for them to go, then SIGKILL."""
    for sig, wait_for in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.kill(-1, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_for
        while _has_children() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not _has_children():
            return
        log.info("processes still running %.0fs after %s", wait_for, signal.Signals(sig).name)


def unmount_all() -> None:
    """Unmount what can go; remount the rest read-only so the disks are clean."""
    try:
        with open("/proc/self/mountinfo") as f:
            mounts = parse_mountinfo(f.read())
    except OSError as e:
        log.warning("cannot read mount table: %s", e)
        return
    for m in unmount_order(mounts):
        try:
            libc.umount(m.target)
            continue
        except OSError:
            pass
        try:
            libc.mount(None, m.target, None, libc.MS_REMOUNT | libc.MS_RDONLY)
        except OSError as e:
            log.warning("cannot unmount or remount read-only %s (%s): %s", m.target, m.fstype, e.strerror)
    try:
        libc.mount(None, "/", None, libc.MS_REMOUNT | libc.MS_RDONLY)
    except OSError:
        pass


def finish(action: Action, *, unmount: bool, grace: float = 5.0) -> None:
    """Stop everything that is left and call reboot(2); returns only if the kernel refused."""
    end_all_processes(grace)
    os.sync()
    if unmount:
        unmount_all()
        os.sync()
    log.info("%s", action.words)
    for h in logging.getLogger("rancheros").handlers:
        h.flush()
    try:
        libc.reboot(action.cmd)
    except OSError as e:
        log.error("reboot(2) failed: %s", e.strerror)
