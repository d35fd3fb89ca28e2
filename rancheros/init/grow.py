"""The state partition grows to the end of its disk at boot: a disk image's small state takes a bigger disk.

Only a partition named RANCHER_STATE (the installer's) that ends last on its disk, with more than
GROW_MIN of the disk after it, is grown: the backup GPT moves to the disk's end, the partition takes the
rest, the kernel learns the new size of that one partition (other partitions of the disk are mounted),
and its ext4 grows online once mounted. Any failure is one console line; the boot goes on at the old size.
"""

from __future__ import annotations

import logging
import os
import struct
from dataclasses import dataclass, replace

from rancheros.system import blockdev, command

log = logging.getLogger(__name__)

STATE_PARTNAME = "RANCHER_STATE"   # rancheros/install/layout.py STATE_LABEL
GROW_MIN = 16 << 20                # bytes after the partition (or between fs and partition end) worth growing into
SECTOR = 512                       # sysfs counts start and size in 512-byte sectors whatever the disk's own
TIMEOUT = 60.0                     # sfdisk and partx touch a few sectors: a minute means the disk stopped answering
RESIZE_TIMEOUT = 600.0             # online resize2fs writes group descriptors for every new GiB

# The ext2/3/4 superblock (1024 bytes at byte 1024): the fields that give its size.
SB_OFFSET, SB_MAGIC = 1024, 0xEF53
INCOMPAT_64BIT = 0x80


@dataclass(frozen=True)
class Part:
    """A partition as sysfs tells it, in 512-byte sectors."""

    name: str
    disk: str
    number: int
    start: int
    size: int
    partname: str


# -- pure decisions ---------------------------------------------------------------------------------

def should_grow(part: Part, disk_sectors: int, siblings: list[Part]) -> tuple[bool, str]:
    """(grow?, why) for `part` on a disk of `disk_sectors` with these partitions (pure)."""
    if part.partname != STATE_PARTNAME:
        return False, f"its partition name is {part.partname!r}, not {STATE_PARTNAME}"
    end = part.start + part.size
    if any(p.start + p.size > end for p in siblings if p.name != part.name):
        return False, "it is not the last partition on its disk"
    free = (disk_sectors - end) * SECTOR
    if free <= GROW_MIN:
        return False, f"only {human(free)} of the disk lie after it"
    return True, f"{human(free)} of the disk lie after it"


def human(nbytes: int) -> str:
    """A size for a console line: MiB below a GiB, GiB with one decimal above."""
    if nbytes < 1 << 30:
        return f"{nbytes / 2**20:.0f} MiB"
    return f"{nbytes / 2**30:.1f} GiB"


def ext_bytes(superblock: bytes) -> int | None:
    """The size an ext2/3/4 superblock gives its file system, None when it is not one (pure)."""
    if len(superblock) < 0x158 or struct.unpack_from("<H", superblock, 0x38)[0] != SB_MAGIC:
        return None
    lo, log_block = struct.unpack_from("<I", superblock, 0x04)[0], struct.unpack_from("<I", superblock, 0x18)[0]
    incompat = struct.unpack_from("<I", superblock, 0x60)[0]
    hi = struct.unpack_from("<I", superblock, 0x150)[0] if incompat & INCOMPAT_64BIT else 0
    return ((hi << 32) | lo) * (1024 << log_block)


def fs_short(fs_bytes: int | None, dev_bytes: int) -> bool:
    """Whether an ext file system leaves more than GROW_MIN of its device unused (pure)."""
    return fs_bytes is not None and dev_bytes - fs_bytes > GROW_MIN


# -- sysfs and device reads -------------------------------------------------------------------------

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


def _siblings(disk: str, sys_block: str) -> list[Part]:
    """Every partition of `disk` (its sysfs directory holds one subdirectory each)."""
    names = os.listdir(os.path.join(sys_block, disk))
    return [p for n in sorted(names) if n.startswith(disk) and (p := read_part(n, sys_block))]


def _blkid_partname(device: str) -> str:
    """The GPT name blkid reads from the table: the kernel sets PARTNAME only for partitions it parsed itself."""
    try:
        r = command.run(["blkid", "-p", "-o", "export", device], f"blkid -p {device}", TIMEOUT)
    except command.CommandError as e:
        log.debug("state: %s", e)
        return ""
    records = blockdev.parse_export(r.stdout)
    return records[0].get("PART_ENTRY_NAME", "") if records else ""


def fs_lags(device: str) -> bool:
    """Whether `device` holds an ext file system more than GROW_MIN smaller than itself (an earlier grow stopped)."""
    try:
        with open(device, "rb") as f:
            f.seek(SB_OFFSET)
            sb = f.read(1024)
            size = f.seek(0, os.SEEK_END)
    except OSError as e:
        log.debug("state: cannot read %s's superblock: %s", device, e)
        return False
    return fs_short(ext_bytes(sb), size)


# -- the steps --------------------------------------------------------------------------------------

def _step(argv: list[str], what: str, timeout: float = TIMEOUT) -> bool:
    """Run one step; a failure, a timeout or a missing tool is one console line."""
    try:
        command.run(argv, what, timeout)
    except command.CommandError as e:
        log.warning("state: %s", e)
        return False
    return True


def _sfdisk_grow(number: int, disk: str) -> list[str]:
    """`echo ', +' | sfdisk -N number disk` as one process to time out and kill.

    command.run gives a command no stdin unless it is handed some text, so sh execs sfdisk with the script as a here-document.
    """
    script = 'exec sfdisk -q --no-reread --no-tell-kernel -N "$1" "$2" <<EOF\n, +\nEOF\n'
    return ["sh", "-c", script, "sfdisk", str(number), disk]


def grow_partition(device: str, sys_block: str = "/sys/class/block") -> bool:
    """Grow `device` (a RANCHER_STATE partition ending last on its disk) to the disk's end.

    True when its file system is to grow once mounted: the partition grew now, or an earlier boot grew
    it but stopped before resize2fs (a timeout, a power cut), so its ext4 lags behind it.
    """
    try:
        part = read_part(os.path.basename(os.path.realpath(device)), sys_block)
        if part is None:
            return False
        disk_sectors = int(_read(os.path.join(sys_block, part.disk, "size")))
        siblings = _siblings(part.disk, sys_block)
    except (OSError, ValueError) as e:
        log.warning("state: cannot read %s's partition facts from sysfs: %s", device, e)
        return False
    if not part.partname:
        part = replace(part, partname=_blkid_partname(device))
    grow, why = should_grow(part, disk_sectors, siblings)
    if not grow:
        log.debug("state: %s not grown: %s", device, why)
        if part.partname == STATE_PARTNAME and fs_lags(device):
            log.info("state: the file system on %s is smaller than its partition (an earlier grow stopped)", device)
            return True
        return False
    disk, n = f"/dev/{part.disk}", part.number
    if not (_step(["sfdisk", "-q", "--relocate", "gpt-bak-std", disk], f"sfdisk --relocate gpt-bak-std {disk}")
            and _step(_sfdisk_grow(n, disk), f"sfdisk -N {n} {disk}")
            and _step(["partx", "-u", "--nr", str(n), disk], f"partx -u --nr {n} {disk}")):
        return False
    try:
        new = int(_read(os.path.join(sys_block, part.name, "size")))
    except (OSError, ValueError):
        new = part.size
    if new <= part.size:
        log.warning("state: %s still has %s after partx: the kernel did not take the new size",
                    device, human(part.size * SECTOR))
        return False
    log.info("state: grew %s from %s to %s", device, human(part.size * SECTOR), human(new * SECTOR))
    return True


def grow_fs(device: str) -> bool:
    """resize2fs of the mounted state (ext4 grows online); True when it now fills its partition."""
    return _step(["resize2fs", device], f"resize2fs {device}", RESIZE_TIMEOUT)
