"""An OS slot on the boot partition: the kernel, initrd and image of one version, from its image alone.

The image file carries everything a slot needs (BOOT_FILES: kernel, initrd, GRUB's loaders); it is
mounted read-only to read them. A slot is written beside the old one and renamed into place, so a
power cut leaves either slot whole.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Callable, Iterator

from rancheros.system.command import run
from rancheros.errors import InstallError
from rancheros.install import grub, initrd

Say = Callable[[str], None]
MOUNT_TIMEOUT = 60.0
IMAGE_NAME = initrd.IMAGE_NAME
VERSION_FILE = "version.json"
MANIFEST = "usr/share/rancheros/manifest.json"
PROGRESS_EVERY = 5.0


@dataclass(frozen=True)
class SlotInfo:
    """What a slot holds (its version.json)."""

    version: str
    commit: str
    sha256: str


@contextlib.contextmanager
def mounted(device: str, fstype: str, options: str = "") -> Iterator[str]:
    """`device` mounted on a fresh directory for the block's length."""
    where = tempfile.mkdtemp(prefix="ros-install-")
    argv = ["mount", "-t", fstype, *(["-o", options] if options else []), device, where]
    try:
        run(argv, f"mount {device}", MOUNT_TIMEOUT)
        try:
            yield where
        finally:
            os.sync()
            run(["umount", where], f"umount {where}", MOUNT_TIMEOUT)
    finally:
        with contextlib.suppress(OSError):
            os.rmdir(where)


def image_root(image: str) -> contextlib.AbstractContextManager[str]:
    """The OS image's tree, read-only."""
    return mounted(image, "squashfs", "ro,loop")


def image_info(root: str, sha256: str) -> SlotInfo:
    """The version of the mounted image at `root`, from its manifest."""
    try:
        with open(os.path.join(root, MANIFEST)) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        raise InstallError(f"the image has no readable manifest ({MANIFEST}): {e}") from None
    return SlotInfo(str(manifest.get("version", "unknown")), str(manifest.get("commit", "unknown")), sha256)


def boot_file(root: str, *parts: str) -> str:
    """A file of the image's BOOT_FILES; InstallError when the image predates installs."""
    path = os.path.join(root, grub.BOOT_FILES.lstrip("/"), *parts)
    if not os.path.isfile(path):
        raise InstallError(f"the image has no {grub.BOOT_FILES}/{'/'.join(parts)}: it cannot be installed "
                           "(built before install support?)")
    return path


def copy_with_progress(src: str, dst: str, say: Say, what: str) -> None:
    """Copy and fsync `src` to `dst`, saying how far every few seconds."""
    size = os.path.getsize(src) or 1
    done, last = 0, time.monotonic()
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        while chunk := fi.read(4 << 20):
            fo.write(chunk)
            done += len(chunk)
            if time.monotonic() - last >= PROGRESS_EVERY:
                say(f"  {what}: {100 * done // size}% of {size / 1e6:.0f} MB")
                last = time.monotonic()
        fo.flush()
        os.fsync(fo.fileno())


def write_slot(boot_dir: str, slot: str, image: str, root: str, info: SlotInfo, say: Say) -> None:
    """Write `slot` under `boot_dir` from `image` (mounted at `root`), replacing what was there."""
    new, final = os.path.join(boot_dir, slot + ".new"), os.path.join(boot_dir, slot)
    shutil.rmtree(new, ignore_errors=True)
    os.makedirs(new)
    shutil.copyfile(boot_file(root, "vmlinuz"), os.path.join(new, "vmlinuz"))
    with open(boot_file(root, "initrd"), "rb") as f:
        base = f.read()
    try:
        data = initrd.with_checksum(base, info.sha256)
    except ValueError as e:
        raise InstallError(str(e)) from None
    with open(os.path.join(new, "initrd"), "wb") as f:
        f.write(data)
        os.fsync(f.fileno())
    copy_with_progress(image, os.path.join(new, IMAGE_NAME), say, f"slot {slot}: {IMAGE_NAME}")
    with open(os.path.join(new, VERSION_FILE), "w") as f:
        json.dump(asdict(info), f)
    shutil.rmtree(final, ignore_errors=True)
    os.rename(new, final)
    os.sync()


def read_info(boot_dir: str, slot: str) -> SlotInfo | None:
    """The version in `slot`, None for an empty or unreadable slot."""
    try:
        with open(os.path.join(boot_dir, slot, VERSION_FILE)) as f:
            data = json.load(f)
        return SlotInfo(str(data["version"]), str(data.get("commit", "")), str(data.get("sha256", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
