"""The disk an install writes: a block device or an image file, checked before anything is written.

A target gives each partition a device path: the kernel's partition node for a disk, a loop device
over the byte range for an image file (how the build writes rancheros.raw with the same code).
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from dataclasses import dataclass
from typing import Iterator

from rancheros.system.command import output, run
from rancheros.errors import InstallError
from rancheros.system import blockdev, mountinfo
from rancheros.install.layout import Partition

TIMEOUT = 120.0   # one partitioning or loop command


def partition_node(device: str, number: int) -> str:
    """/dev/vda -> /dev/vda3, /dev/nvme0n1 -> /dev/nvme0n1p3 (pure)."""
    return f"{device}{'p' if device[-1].isdigit() else ''}{number}"


@dataclass
class Target:
    """Where the install goes; `is_file` for a disk image."""

    path: str

    @property
    def is_file(self) -> bool:
        return os.path.isfile(self.path)

    def size(self) -> int:
        with open(self.path, "rb") as f:
            return f.seek(0, os.SEEK_END)

    def reread(self) -> None:
        """After partitioning (sfdisk asked the kernel to re-read): wait for the partitions' nodes."""
        if self.is_file:
            return
        for _ in range(100):
            if all(os.path.exists(partition_node(self.path, n)) for n in (1, 2, 3, 4)):
                return
            time.sleep(0.1)
        raise InstallError(f"the kernel shows no partitions on {self.path} after partitioning it")

    @contextlib.contextmanager
    def partition(self, part: Partition) -> Iterator[str]:
        """A device path for `part`, for as long as the block lasts."""
        if not self.is_file:
            yield partition_node(self.path, part.number)
            return
        loop = output(["losetup", "--find", "--show", "--offset", str(part.offset), "--sizelimit",
                            str(part.bytes), self.path], f"losetup {self.path} (partition {part.name})",
                           TIMEOUT).strip()
        try:
            yield loop
        finally:
            run(["losetup", "-d", loop], f"losetup -d {loop}", TIMEOUT)


def _base(name: str) -> str:
    """The disk a /sys/class/block name belongs to (itself for a whole disk)."""
    if os.path.exists(f"/sys/class/block/{name}/partition"):
        return os.path.basename(os.path.dirname(os.path.realpath(f"/sys/class/block/{name}")))
    return name


def users(device: str, mounts: str = mountinfo.MOUNTINFO, swaps: str = "/proc/swaps") -> list[str]:
    """What uses `device` or one of its partitions: mounts and swaps, as "SRC on TARGET" lines."""
    disk = os.path.basename(os.path.realpath(device))
    try:
        used = [(m.source, f"{m.source} on {m.target}") for m in mountinfo.read(mounts)]
    except OSError:
        used = []
    try:
        with open(swaps) as f:
            used += [(cols[0], f"{cols[0]} (swap)") for cols in (line.split() for line in f) if cols]
    except OSError:
        pass
    found = []
    for source, line in used:
        if source.startswith("/dev/"):
            name = os.path.basename(os.path.realpath(source))
            if name == disk or _base(name) == disk:
                found.append(line)
    return found


def holders(device: str) -> list[str]:
    """Loop devices, device-mapper or RAID over `device` (its sysfs holders and its partitions')."""
    disk = os.path.basename(os.path.realpath(device))
    found = []
    for d in [f"/sys/class/block/{disk}", *(f"/sys/class/block/{disk}/{p}" for p in _children(disk))]:
        with contextlib.suppress(OSError):
            found += os.listdir(f"{d}/holders")
    return sorted(found)


def _children(disk: str) -> list[str]:
    try:
        return [n for n in os.listdir(f"/sys/class/block/{disk}") if n.startswith(disk)]
    except OSError:
        return []


STATE_MOUNT = "/mnt/state"   # rancheros/init/root.py STATE_DIR, seen from the OS root


def check(target: Target, force: bool) -> None:
    """Refuse a target in use, or holding data without `force`; the message says what was found."""
    if not os.path.exists(target.path):
        raise InstallError(f"{target.path}: no such device")
    if target.is_file:
        found_users: list[str] = []
    else:
        if not re.fullmatch(r"/dev/[A-Za-z0-9_/.-]+", target.path):
            raise InstallError(f"{target.path}: give the device's path under /dev (for example /dev/vda)")
        found_users = users(target.path)
        sysdir = f"/sys/class/block/{os.path.basename(os.path.realpath(target.path))}"
        if not os.path.exists(sysdir):
            raise InstallError(f"{target.path} is not a block device")
        if os.path.exists(f"{sysdir}/partition"):
            raise InstallError(f"{target.path} is a partition: give the whole disk")
    if found_users:
        state = [u for u in found_users if u.endswith(" on " + STATE_MOUNT)]
        what = "it is the state disk in use" if state else "it is in use"
        raise InstallError(f"not installing to {target.path}: {what} ({', '.join(found_users)})")
    held = [] if target.is_file else holders(target.path)
    if held:
        raise InstallError(f"not installing to {target.path}: it is in use by {', '.join(held)}")
    if force:
        return
    try:
        blank, why = blockdev.blank_verdict(blockdev.probe(target.path))
    except OSError as e:
        raise InstallError(f"cannot read {target.path}: {e.strerror or e}") from None
    if not blank:
        raise InstallError(f"not installing to {target.path}: {why}; add -f to overwrite it (its data is lost)")
