"""The early mounts of PID 1: kernel file systems and tmpfs, planned as data then applied."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from rancheros.system import libc
from rancheros.system import mountinfo

log = logging.getLogger(__name__)

_NOEXEC = libc.MS_NOSUID | libc.MS_NODEV | libc.MS_NOEXEC


@dataclass(frozen=True)
class Mount:
    """One mount(2) call: what, where, which file system, flags and options."""

    source: str
    target: str
    fstype: str
    flags: int = 0
    data: str | None = None
    mode: int = 0o755


EARLY: tuple[Mount, ...] = (
    Mount("proc", "/proc", "proc", _NOEXEC),
    Mount("sysfs", "/sys", "sysfs", _NOEXEC),
    Mount("devtmpfs", "/dev", "devtmpfs", libc.MS_NOSUID, "mode=0755"),
    Mount("devpts", "/dev/pts", "devpts", libc.MS_NOSUID | libc.MS_NOEXEC, "gid=5,mode=0620,ptmxmode=0666"),
    Mount("shm", "/dev/shm", "tmpfs", libc.MS_NOSUID | libc.MS_NODEV, "mode=1777", 0o1777),
    Mount("mqueue", "/dev/mqueue", "mqueue", _NOEXEC),
    Mount("tmpfs", "/run", "tmpfs", libc.MS_NOSUID | libc.MS_NODEV, "mode=0755"),
    Mount("cgroup2", "/sys/fs/cgroup", "cgroup2", _NOEXEC, "nsdelegate"),
)

# Moved under the new root at switch_root, in this order (parents first).
API_MOUNTS: tuple[str, ...] = ("/proc", "/sys", "/dev", "/run")


def plan(mounted: set[str], wanted: tuple[Mount, ...] = EARLY) -> list[Mount]:
    """The mounts still to do, in order (pure: `mounted` is the set of current targets)."""
    return [m for m in wanted if m.target not in mounted]


def apply(mounts: list[Mount]) -> list[str]:
    """Mount each in turn; returns one message per failure (the console may not exist yet to log them)."""
    failures = []
    for m in mounts:
        try:
            os.makedirs(m.target, mode=m.mode, exist_ok=True)
            libc.mount(m.source, m.target, m.fstype, m.flags, m.data)
        except OSError as e:
            failures.append(f"mount {m.fstype} on {m.target}: {e.strerror or e}")
    return failures


def early() -> list[str]:
    """Mount the kernel file systems PID 1 needs; returns failures to log once the console is up."""
    return apply(plan(mountinfo.targets()))
