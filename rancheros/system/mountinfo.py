"""The kernel's mount table (/proc/self/mountinfo), parsed in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass

MOUNTINFO = "/proc/self/mountinfo"


@dataclass(frozen=True)
class MountEntry:
    """One mount: where, which file system, from what."""

    target: str
    fstype: str
    source: str


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal."""
    return field.encode().decode("unicode_escape") if "\\" in field else field


def parse(text: str) -> list[MountEntry]:
    """Mounts in the order the kernel lists them (parents before the mounts on top of them; pure)."""
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


def read(path: str = MOUNTINFO) -> list[MountEntry]:
    """This process's mounts now; OSError when there is no /proc."""
    with open(path) as f:
        return parse(f.read())


def targets(path: str = MOUNTINFO) -> set[str]:
    """Where something is mounted now; empty before /proc exists."""
    try:
        return {m.target for m in read(path)}
    except OSError:
        return set()


def holding(path: str | os.PathLike, entries: list[MountEntry]) -> MountEntry | None:
    """The mount `path` (resolved) lies on: the longest mount point above it, the last one mounted there (pure)."""
    real = os.path.realpath(path)
    best = None
    for m in entries:
        if real == m.target or m.target == "/" or real.startswith(m.target.rstrip("/") + "/"):
            if best is None or len(m.target) >= len(best.target):
                best = m
    return best


def is_mount_point(path: str | os.PathLike) -> bool:
    """Whether `path` (resolved) is a mount point."""
    return os.path.realpath(path) in targets()
