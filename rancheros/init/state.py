"""The state disk: find it by LABEL=/UUID=/path, format it only if blank and listed, mount it.

A device holding any data is never formatted; the console says why in one
line. Without a state device the system runs from memory.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

from rancheros import log as boot_log
from rancheros.errors import BootError
from rancheros.system import libc
from rancheros.system import blockdev

log = logging.getLogger(__name__)

DEFAULT_SPEC = "LABEL=RANCHER_STATE"


@dataclass(frozen=True)
class StateSettings:
    """`rancher.state` as data."""

    dev: str = DEFAULT_SPEC
    fstype: str = "auto"
    autoformat: tuple[str, ...] = ()
    wait: bool = True
    required: bool = False
    wait_seconds: float = 10.0

    @classmethod
    def from_config(cls, doc: dict) -> "StateSettings":
        """From the merged config; a lone string in autoformat counts as a one-item list."""
        st = ((doc or {}).get("rancher") or {}).get("state") or {}
        af = st.get("autoformat") or ()
        if isinstance(af, str):
            af = [w for w in af.replace(",", " ").split() if w]
        return cls(dev=str(st.get("dev") or DEFAULT_SPEC), fstype=str(st.get("fstype") or "auto"),
                   autoformat=tuple(str(d) for d in af), wait=bool(st.get("wait", True)),
                   required=bool(st.get("required", False)))

    @property
    def label(self) -> str:
        """The label a fresh state file system gets: the one `dev` looks for."""
        key, _, value = self.dev.partition("=")
        return value if key == "LABEL" and value else "RANCHER_STATE"


@dataclass(frozen=True)
class StateDevice:
    """The chosen state device and its file system type."""

    device: str
    fstype: str
    formatted: bool = False


MKFS_TIMEOUT = 600.0  # mkfs.ext4 of a large disk takes seconds (lazy init); a disk that hangs must not hang the boot


def format_device(device: str, label: str) -> None:
    """mkfs.ext4 with the state label; BootError with mkfs's own words on failure or when it outlives MKFS_TIMEOUT."""
    from rancheros.system.command import CommandError, run

    try:
        run(["mkfs.ext4", "-F", "-q", "-L", label, device], f"mkfs.ext4 {device}", MKFS_TIMEOUT)
    except CommandError as e:
        raise BootError(str(e)) from None


def resolve(settings: StateSettings, scan_only: list[str] | None = None) -> StateDevice | None:
    """Find the state device, formatting a blank listed one if none carries the label (no mount)."""
    found = blockdev.find_device(settings.dev, blockdev.scan(scan_only))
    if found:
        return StateDevice(found["DEVNAME"], found.get("TYPE", "auto"))
    for candidate in settings.autoformat:
        if not os.path.exists(candidate):
            continue
        try:
            blank, why = blockdev.blank_verdict(blockdev.probe(candidate))
        except OSError as e:
            log.warning("state: cannot probe %s: %s", candidate, e.strerror or e)
            continue
        if not blank:
            log.info("state: not formatting %s: %s", candidate, why)
            continue
        log.info("state: formatting blank %s as ext4 %s", candidate, settings.label)
        format_device(candidate, settings.label)
        return StateDevice(candidate, "ext4", formatted=True)
    return None


NO_DISK_WAIT = 2.0  # seconds to wait when the machine shows no disk at all (a live boot from CD)


def disks_present(sys_block: str = "/sys/class/block") -> bool:
    """Any block device that could hold the state (not a loop, RAM or CD device)."""
    try:
        names = os.listdir(sys_block)
    except OSError:
        return True  # cannot tell: wait the full time
    return any(not n.startswith(("loop", "ram", "zram", "sr")) for n in names)


def wait_limit(settings: StateSettings, disks: bool) -> float:
    """How long to wait for the state device (pure): the full time only where a disk exists to wait for."""
    if not settings.wait:
        return 0.0
    return settings.wait_seconds if disks else min(settings.wait_seconds, NO_DISK_WAIT)


def _wait_for_devices(settings: StateSettings) -> None:
    """Disks show up a moment after their drivers load; wait until the spec or a listed device exists."""
    start = time.monotonic()
    deadline = start + wait_limit(settings, disks_present())
    said = start
    while True:
        if blockdev.find_device(settings.dev, blockdev.scan()) or any(os.path.exists(d) for d in settings.autoformat):
            return
        now = time.monotonic()
        if now >= deadline:
            return
        if now - said >= boot_log.SAY_EVERY:
            log.info("state: waiting for %s (%.0fs of %.0fs)", settings.dev, now - start, settings.wait_seconds)
            said = now
        time.sleep(0.25)


def mount_state(dev: StateDevice, settings: StateSettings, target: str) -> None:
    """Mount the state file system at `target`."""
    fstype = dev.fstype if settings.fstype == "auto" else settings.fstype
    os.makedirs(target, exist_ok=True)
    try:
        libc.mount(dev.device, target, fstype, 0, None)
    except OSError as e:
        raise BootError(f"cannot mount state device {dev.device} ({fstype}) on {target}: {e.strerror}") from None


def setup(settings: StateSettings, target: str) -> StateDevice | None:
    """Find, maybe format, and mount the state device at `target`; None means memory mode."""
    from rancheros.init import grow

    _wait_for_devices(settings)
    try:
        dev = resolve(settings)
        if dev is not None:
            grown = grow.grow_partition(dev.device)
            mount_state(dev, settings, target)
            if grown:
                grow.grow_fs(dev.device)
    except BootError as e:
        if settings.required:
            raise
        log.error("state: %s; running from memory", e)
        return None
    if dev is None:
        if settings.required:
            raise BootError(f"state device {settings.dev} not found and rancher.state.required is true")
        log.info("state: no state device (%s); running from memory", settings.dev)
        return None
    log.info("state: %s (%s) mounted on %s", dev.device, dev.fstype, target)
    return dev
