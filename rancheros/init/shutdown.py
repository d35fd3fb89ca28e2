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
import threading
import time
from typing import Callable

from rancheros.system import libc
from rancheros.system import mountinfo
from rancheros.system.mountinfo import MountEntry

log = logging.getLogger(__name__)

SYNC_TIMEOUT = 30.0     # a disk that no longer answers must not keep the machine from rebooting
UMOUNT_TIMEOUT = 10.0   # per mount: umount(2) of a hung disk or a gone network server can block for ever


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


def _reap() -> tuple[list[tuple[int, int]], bool]:
    """Collect every exited child without blocking, in a loop (a thousand zombies at once are no recursion).

    Returns the (pid, status) pairs and whether a child still runs.
    """
    reaped = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped, False
        if pid == 0:
            return reaped, True
        reaped.append((pid, status))


def reap_all() -> list[tuple[int, int]]:
    """Collect every exited child without blocking; returns (pid, status) pairs."""
    return _reap()[0]


def _has_children() -> bool:
    """Reap what has exited; True while a child still runs."""
    return _reap()[1]


def bounded(fn: Callable[[], object], timeout: float, what: str) -> tuple[bool, str | None]:
    """Run `fn` under a watchdog: (done, error); a call still blocked after `timeout` s is left behind."""
    outcome: list[BaseException | None] = []

    def body() -> None:
        try:
            fn()
            outcome.append(None)
        except BaseException as e:
            outcome.append(e)

    try:
        t = threading.Thread(target=body, name=what, daemon=True)
        t.start()
    except RuntimeError:  # no thread to be had: run it here, unwatched
        body()
    else:
        t.join(timeout)
    if not outcome:
        log.warning("%s: still blocked after %.0fs; going on without it", what, timeout)
        return False, "blocked"
    err = outcome[0]
    if err is None:
        return True, None
    return False, (getattr(err, "strerror", None) or str(err))


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


def _unmount_one(m: MountEntry) -> None:
    """umount; else remount read-only (the disk is clean); else a lazy detach (MNT_DETACH); each one bounded."""
    done, err = bounded(lambda: libc.umount(m.target), UMOUNT_TIMEOUT, f"umount {m.target}")
    if done:
        return
    done, err_ro = bounded(lambda: libc.mount(None, m.target, None, libc.MS_REMOUNT | libc.MS_RDONLY),
                           UMOUNT_TIMEOUT, f"remount {m.target} read-only")
    if done:
        return
    done, err_lazy = bounded(lambda: libc.umount(m.target, libc.MNT_DETACH), UMOUNT_TIMEOUT,
                             f"detach {m.target}")
    if done:
        log.info("%s (%s) detached lazily (umount: %s; read-only: %s)", m.target, m.fstype, err, err_ro)
        return
    log.warning("cannot unmount, remount read-only or detach %s (%s): %s", m.target, m.fstype, err_lazy)


def _at_or_under(target: str, under: str) -> bool:
    """Whether mount point `target` is `under` or inside it."""
    return under == "/" or target == under or target.startswith(under.rstrip("/") + "/")


def unmount_all(under: str = "/") -> None:
    """Unmount what can go; remount the rest read-only (or detach it) so the disks are clean.

    `under` limits it to the mounts at or below one directory (a test's own, in its mount namespace).
    """
    try:
        mounts = mountinfo.read()
    except OSError as e:
        log.warning("cannot read mount table: %s", e)
        return
    for m in unmount_order(mounts):
        if _at_or_under(m.target, under):
            _unmount_one(m)
    if under == "/":
        bounded(lambda: libc.mount(None, "/", None, libc.MS_REMOUNT | libc.MS_RDONLY), UMOUNT_TIMEOUT,
                "remount / read-only")


def sync() -> bool:
    """sync(2) under a watchdog: True when it returned within SYNC_TIMEOUT."""
    return bounded(os.sync, SYNC_TIMEOUT, "sync")[0]


def _guarded(what: str, fn: Callable[[], object]) -> None:
    """One shutdown step; its failure is a console line, never the end of the shutdown."""
    try:
        fn()
    except BaseException as e:  # the reboot below must happen whatever a step did
        try:
            log.error("shutdown: %s failed: %s: %s", what, type(e).__name__, e)
        except BaseException:
            pass


def _flush_logs() -> None:
    for h in logging.getLogger("rancheros").handlers:
        h.flush()


def finish(action: Action, *, unmount: bool, grace: float = 5.0, under: str = "/") -> str:
    """Stop everything that is left and call reboot(2); returns only if the kernel refused, with its reason.

    The caller says it on the console, in one line with what it does next.
    """
    _guarded("ending processes", lambda: end_all_processes(grace))
    _guarded("sync", sync)
    if unmount:
        _guarded("unmounting", lambda: unmount_all(under))
        _guarded("sync", sync)
    _guarded("logging", lambda: log.info("%s", action.words))
    _guarded("flushing the log", _flush_logs)
    try:
        libc.reboot(action.cmd)
    except OSError as e:
        return os.strerror(e.errno) if e.errno else str(e)
    return "reboot(2) returned"
