"""The state partition grows to the end of its disk at boot: a disk image's small state takes a bigger disk.

Only a partition named RANCHER_STATE (the installer's) that ends last on its disk, with more than
GROW_MIN free after it, is grown: the backup GPT moves to the disk's end, the partition takes the rest,
the kernel learns the new size of that one partition (other partitions of the disk are mounted), and
its ext4 grows online once mounted. Any failure is one console line; the boot goes on at the old size.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from rancheros.command import run_checked
from rancheros.errors import CommandError

log = logging.getLogger(__name__)

STATE_PARTNAME = "RANCHER_STATE"   # rancheros/install/layout.py STATE_LABEL
GROW_MIN = 16 << 20                # bytes free after the partition worth growing into
GPT_TAIL = 34                      # sectors the backup GPT needs at the end (and one spare)
TIMEOUT = 120.0


@dataclass(frozen=True)
class Part:
    """A partition as sysfs tells it, in 512-byte sectors."""

    name: str
    disk: str
    number: int
    start: int
    size: int
    partname: str


def should_grow(part: Part, disk_sectors: int, siblings: list[Part]) -> tuple[bool, str]:
    """(grow?, why) for `part` on a disk of `disk_sectors` with these partitions (pure)."""
    if part.partname != STATE_PARTNAME:
        return False, f"its partition name is {part.partname!r}, not {STATE_PARTNAME}"
    end = part.start + part.size
    if any(p.start + p.size > end for p in siblings if p.name != part.name):
        return False, "it is not the last partition on its disk"
    free = (disk_sectors - GPT_TAIL - end) * 512
    if free <= GROW_MIN:
        return False, "the disk has no room after it"
    return True, f"{free / 2**20:.0f} MiB free after it"


def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def _uevent(sysdir: str) -> dict[str, str]:
    try:
        return dict(l.split("=", 1) for l in _read(f"{sysdir}/uevent").splitlines() if "=" in l)
    except OSError:
        return {}


def read_part(name: str, sys_block: str = "/sys/class/block") -> Part | None:
    """`name`'s facts from sysfs, None when it is not a partition."""
    sysdir = os.path.join(sys_block, name)
    if not os.path.exists(f"{sysdir}/partition"):
        return None
    disk = os.path.basename(os.path.dirname(os.path.realpath(sysdir)))
    return Part(name, disk, int(_read(f"{sysdir}/partition")), int(_read(f"{sysdir}/start")),
                int(_read(f"{sysdir}/size")), _uevent(sysdir).get("PARTNAME", ""))


def _run(argv: list[str], stdin_text: str | None = None) -> bool:
    """One step; a failure (or a missing tool, or a timeout) is one console line."""
    try:
        run_checked(argv, " ".join(argv), TIMEOUT, input=stdin_text)
        return True
    except CommandError as e:
        log.warning("state: not grown: %s", e)
        return False


def grow_partition(device: str, sys_block: str = "/sys/class/block") -> bool:
    """Grow `device` (a RANCHER_STATE partition) to its disk's end; True when it grew."""
    try:
        part = read_part(os.path.basename(os.path.realpath(device)), sys_block)
        if part is None:
            return False
        disk_sectors = int(_read(os.path.join(sys_block, part.disk, "size")))
        siblings = [p for n in os.listdir(os.path.join(sys_block, part.disk))
                    if n.startswith(part.disk) and (p := read_part(n, sys_block))]
    except (OSError, ValueError) as e:
        log.warning("state: cannot read %s's partition facts: %s", device, e)
        return False
    grow, why = should_grow(part, disk_sectors, siblings)
    if not grow:
        log.debug("state: %s not grown: %s", device, why)
        return False
    disk = f"/dev/{part.disk}"
    if not (_run(["sfdisk", "-q", "--relocate", "gpt-bak-std", disk])
            and _run(["sfdisk", "-q", "--no-reread", "--no-tell-kernel", "-N", str(part.number), disk], ", +\n")
            and _run(["partx", "-u", "--nr", str(part.number), disk])):
        return False
    try:
        new = int(_read(os.path.join(sys_block, part.name, "size")))
    except (OSError, ValueError):
        new = part.size
    log.info("state: grew %s from %.0f MiB to %.1f GiB", device, part.size / 2048, new / 2**21)
    return new > part.size


def grow_fs(device: str, mountpoint: str) -> None:
    """resize2fs of the mounted state: ext4 grows online."""
    if _run(["resize2fs", device]):
        log.info("state: the file system on %s now fills it (%s)", device, mountpoint)
