"""Find the boot medium in the initrd, before any tool is there: labels read from the devices themselves.

A source spec is `LABEL=NAME:/path/in/fs`, `PARTLABEL=NAME:/path` or `/dev/xxx:/path`. The label
readers are pure functions over the first 40 KiB of a device (ISO 9660, ext2/3/4, FAT), and GPT
partition names come from sysfs, so the small initrd needs no blkid.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from rancheros.errors import BootError

HEAD = 40 * 1024  # covers the ISO 9660 primary volume descriptor at 32 KiB


@dataclass(frozen=True)
class Source:
    """Where the OS image is: a device spec (LABEL=, PARTLABEL= or a path) and a path inside its fs."""

    device: str
    path: str

    @classmethod
    def parse(cls, spec: str) -> "Source":
        dev, sep, path = spec.rpartition(":")
        if not sep or not dev or not path.startswith("/"):
            raise BootError(f"rancher.image {spec!r}: expected DEVICE:/path (LABEL=X, PARTLABEL=X or /dev/...)")
        return cls(dev, path)


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("ascii", "replace").strip()


def fs_label(head: bytes) -> tuple[str, str] | None:
    """(type, label) of the file system whose first bytes are `head`, for the types a medium uses."""
    if len(head) >= 0x8000 + 72 and head[0x8001:0x8006] == b"CD001":
        return "iso9660", _text(head[0x8000 + 40:0x8000 + 72])
    if len(head) >= 1024 + 136 and head[1024 + 56:1024 + 58] == b"\x53\xef":
        return "ext4", _text(head[1024 + 120:1024 + 136])
    if len(head) >= 512 and head[510:512] == b"\x55\xaa":
        if head[82:87] == b"FAT32":
            return "vfat", _text(head[71:82])
        if head[54:59] in (b"FAT12", b"FAT16"):
            return "vfat", _text(head[43:54])
    return None


def _uevent(sysdir: str) -> dict[str, str]:
    try:
        with open(os.path.join(sysdir, "uevent")) as f:
            return dict(line.strip().split("=", 1) for line in f if "=" in line)
    except OSError:
        return {}


@dataclass(frozen=True)
class Candidate:
    device: str
    fstype: str
    label: str
    partlabel: str


def candidates(sys_block: str = "/sys/class/block", dev: str = "/dev") -> list[Candidate]:
    """Every block device with a file system we can mount the medium from."""
    found = []
    for name in sorted(os.listdir(sys_block)) if os.path.isdir(sys_block) else []:
        if name.startswith(("loop", "ram", "zram")):
            continue
        path = os.path.join(dev, name)
        try:
            with open(path, "rb") as f:
                head = f.read(HEAD)
        except OSError:
            continue  # an empty CD drive, a device that went away
        fs = fs_label(head)
        if fs:
            found.append(Candidate(path, fs[0], fs[1], _uevent(os.path.join(sys_block, name)).get("PARTNAME", "")))
    return found


def matches(spec: str, c: Candidate) -> bool:
    key, sep, value = spec.partition("=")
    if sep and key == "LABEL":
        return c.label == value
    if sep and key == "PARTLABEL":
        return c.partlabel == value
    return os.path.realpath(spec) == os.path.realpath(c.device)


def find(spec: str, found: list[Candidate]) -> Candidate | None:
    """The first candidate the device spec names (pure)."""
    return next((c for c in found if matches(spec, c)), None)
