"""Boot the OS image in place: find it, check it, mount it read-only, put a writable layer over it.

The initrd carries the image's expected checksum (IMAGE_SHA256). The image comes from the initrd
itself (a kernel+initrd boot, PXE) or from the boot medium named by `rancher.image`. It is never
unpacked or copied: a loop device serves the squashfs, and an overlay with a tmpfs upper layer is
the new root, which PID 1 then switches to (a real mount, so containers get pivot_root).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from typing import Callable

from rancheros import log as boot_log
from rancheros.errors import BootError
from rancheros.init import medium
from rancheros.system import libc

log = logging.getLogger(__name__)

IMAGE_NAME = "rancheros.img"
IN_INITRD = "/" + IMAGE_NAME                       # the kernel+initrd boot: the image is a file of the initrd
IMAGE_SHA256 = "/usr/share/rancheros/image.sha256"  # written into the initrd by the build
DEFAULT_SOURCE = "LABEL=RANCHEROS:/" + IMAGE_NAME
BOOT_DIR = "/run/rancheros"                        # /run moves into the new root: these mounts stay visible
MEDIUM_DIR = BOOT_DIR + "/medium"
IMAGE_DIR = BOOT_DIR + "/os"
RW_DIR = BOOT_DIR + "/rw"
BOOTED = BOOT_DIR + "/image.json"                 # what this boot runs, for `ros os version`
MANIFEST = "/usr/share/rancheros/manifest.json"    # in the image: version, commit, packages

LOOP_CTL_GET_FREE = 0x4C82
LOOP_SET_FD = 0x4C00


@dataclass(frozen=True)
class Image:
    """The OS image found for this boot: its file and where it came from (for the console)."""

    path: str
    origin: str

    def record(self, sha256: str | None, path: str = BOOTED) -> None:
        """Leave a note of what this boot runs in /run (kept across the root switch)."""
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump({"path": self.path, "origin": self.origin, "sha256": sha256}, f)


class Progress:
    """Calls `say` at most every boot_log.SAY_EVERY seconds: long steps show they are alive."""

    def __init__(self, say: Callable[[str], None], every: float = boot_log.SAY_EVERY):
        self.say, self.every = say, every
        self.next = time.monotonic() + every

    def tick(self, what: str) -> None:
        if time.monotonic() >= self.next:
            self.say(what)
            self.next = time.monotonic() + self.every


def expected_sha256(path: str = IMAGE_SHA256) -> str | None:
    """The checksum the build wrote beside the init (`sha256sum` format), None if absent."""
    try:
        with open(path) as f:
            return f.read().split()[0].lower()
    except (OSError, IndexError):
        return None


def sha256_of(path: str, progress: Progress | None = None) -> str:
    h = hashlib.sha256()
    size = os.path.getsize(path) or 1
    done = 0
    with open(path, "rb", buffering=0) as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            done += len(chunk)
            if progress:
                progress.tick(f"checking {path}: {100 * done // size}%")
    return h.hexdigest()


def verify(path: str, expected: str | None) -> None:
    """Refuse an image whose checksum differs from the build's (a flipped byte is enough)."""
    if expected is None:
        log.warning("no checksum for %s in the initrd (%s); not verified", path, IMAGE_SHA256)
        return
    got = sha256_of(path, Progress(lambda m: log.info("%s", m)))
    if got != expected:
        raise BootError(f"OS image {path} is corrupt: sha256 {got}, expected {expected}")


def wait_for_medium(spec: str, seconds: float) -> medium.Candidate:
    """The device named by `spec`; devices appear a moment after their drivers load."""
    deadline = time.monotonic() + seconds
    progress = Progress(lambda m: log.info("%s", m))
    while True:
        found = medium.candidates()
        hit = medium.find(spec, found)
        if hit:
            return hit
        if time.monotonic() >= deadline:
            seen = ", ".join(f"{c.device} ({c.fstype} {c.label!r})" for c in found) or "none"
            raise BootError(f"boot medium {spec} not found within {seconds:.0f}s (file systems seen: {seen})")
        progress.tick(f"waiting for the boot medium {spec}")
        time.sleep(0.2)


def locate(spec: str, wait_seconds: float = 30.0) -> Image:
    """The image of this boot: the initrd's own, else the file on the medium (mounted read-only)."""
    if os.path.isfile(IN_INITRD):
        return Image(IN_INITRD, "the initrd")
    src = medium.Source.parse(spec)
    dev = wait_for_medium(src.device, wait_seconds)
    os.makedirs(MEDIUM_DIR, exist_ok=True)
    libc.mount(dev.device, MEDIUM_DIR, dev.fstype, libc.MS_RDONLY)
    path = MEDIUM_DIR + src.path
    if not os.path.isfile(path):
        raise BootError(f"{dev.device} ({dev.label}) has no {src.path}")
    return Image(path, dev.device)


def attach_loop(path: str) -> str:
    """A read-only loop device backed by `path` (the fd is read-only, so is the device)."""
    ctl = os.open("/dev/loop-control", os.O_RDWR | os.O_CLOEXEC)
    try:
        n = fcntl.ioctl(ctl, LOOP_CTL_GET_FREE)
    finally:
        os.close(ctl)
    dev = f"/dev/loop{n}"
    for _ in range(50):  # devtmpfs creates the node a moment after the kernel adds the device
        if os.path.exists(dev):
            break
        time.sleep(0.02)
    backing = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    loop = os.open(dev, os.O_RDONLY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(loop, LOOP_SET_FD, backing)
    finally:
        os.close(loop)
        os.close(backing)
    return dev


def overlay_options(lower: str, rw: str) -> str:
    return f"lowerdir={lower},upperdir={rw}/upper,workdir={rw}/work"


def mount_root(image: Image, newroot: str) -> None:
    """squashfs on a loop device, a tmpfs for changes, the overlay of both at `newroot`."""
    loop = attach_loop(image.path)
    os.makedirs(IMAGE_DIR, exist_ok=True)
    try:
        libc.mount(loop, IMAGE_DIR, "squashfs", libc.MS_RDONLY)
    except OSError as e:
        raise BootError(f"cannot mount the OS image {image.path} ({loop}): {e.strerror}") from None
    os.makedirs(RW_DIR, exist_ok=True)
    # Only what the running system changes lives here (the OS itself stays on the image).
    libc.mount("rootfs-rw", RW_DIR, "tmpfs", 0, "mode=0755,size=50%")
    for d in ("upper", "work"):
        os.makedirs(f"{RW_DIR}/{d}", exist_ok=True)
    os.makedirs(newroot, exist_ok=True)
    libc.mount("overlay", newroot, "overlay", 0, overlay_options(IMAGE_DIR, RW_DIR))
