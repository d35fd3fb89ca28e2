"""This boot and its slot: which slot runs, whether it is a trial, and the boot partition's env.

An installed system boots its image from the boot partition, which PID 1 mounted read-only at
MEDIUM_DIR; GRUB put `rancher.os.slot=X` (and on a trial `rancher.os.trial=1`) on the command line.
The env is written through a short read-write remount of that same mount.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import threading
from dataclasses import dataclass
from typing import Iterator

from rancheros.errors import InstallError
from rancheros.system import libc
from rancheros.init.osimage import BOOTED, MEDIUM_DIR
from rancheros.init.recovery import read_cmdline
from rancheros.install import bootenv, grub, layout, slots

log = logging.getLogger(__name__)

TRIAL_TIMEOUT = 600.0   # seconds a trial boot has to reach "services up" before it gives up (reboots)
ENV_PATH = f"{grub.GRUB_DIR}/grubenv"


@dataclass(frozen=True)
class Booted:
    """What the kernel command line says of this boot's slot (pure)."""

    slot: str | None
    trial: bool

    @classmethod
    def from_cmdline(cls, cmdline: str) -> "Booted":
        words = dict(w.partition("=")[::2] for w in cmdline.split())
        slot = words.get("rancher.os.slot")
        return cls(slot if slot in layout.SLOTS else None, words.get("rancher.os.trial") == "1")


def booted() -> Booted:
    return Booted.from_cmdline(read_cmdline())


def boot_dir() -> str:
    """The boot partition's mount of this boot; InstallError when this boot is not from an installed disk."""
    b = booted()
    try:
        with open(BOOTED) as f:
            path = json.load(f).get("path", "")
    except (OSError, ValueError):
        path = ""
    if b.slot is None or not path.startswith(f"{MEDIUM_DIR}/{b.slot}/"):
        raise InstallError("this system does not run from an installed disk (live ISO or kernel+initrd boot): "
                           "install it first with `ros install -d DEVICE`")
    return MEDIUM_DIR


@contextlib.contextmanager
def writable(path: str) -> Iterator[str]:
    """The boot partition mounted read-write for the block's length, read-only again after it."""
    try:
        libc.mount(None, path, None, libc.MS_REMOUNT)
    except OSError as e:
        raise InstallError(f"cannot make the boot partition writable ({path}): {e.strerror}") from None
    try:
        yield path
    finally:
        os.sync()
        try:
            libc.mount(None, path, None, libc.MS_REMOUNT | libc.MS_RDONLY)
        except OSError as e:
            log.warning("the boot partition %s stays writable: %s", path, e.strerror)


def read_env(boot: str) -> bootenv.BootEnv:
    try:
        return bootenv.read(os.path.join(boot, ENV_PATH))
    except bootenv.EnvError as e:
        raise InstallError(f"{os.path.join(boot, ENV_PATH)}: {e}") from None


def write_env(boot: str, env: bootenv.BootEnv) -> None:
    with writable(boot):
        bootenv.write(os.path.join(boot, ENV_PATH), env)


def on_trial(boot: str) -> bool:
    """This boot is a trial that is not marked good yet (the cmdline says trial until the next boot)."""
    b = booted()
    return b.trial and read_env(boot).boot_slot != b.slot


def info(boot: str, slot: str) -> slots.SlotInfo | None:
    return slots.read_info(boot, slot)


def at_boot() -> None:
    """Early in the boot manager: say when the last upgrade was rolled back (once), and note it for `ros os list`."""
    try:
        boot, b = boot_dir(), booted()
        env = read_env(boot)
        why = env.rolled_back(b.slot or "")
        if why:
            log.error("%s", why)
            env.values.update(rolled_back=why)
            for k in ("tried_slot", "tried_version", "tried_reason"):
                env.values.pop(k, None)
            write_env(boot, env)
    except InstallError:
        return
    except (OSError, bootenv.EnvError) as e:
        log.warning("boot slots: %s", e)


def services_up() -> None:
    """A trial boot reached "services up": its slot boots from now on."""
    b = booted()
    if not b.trial or b.slot is None:
        return
    try:
        boot = boot_dir()
        env = read_env(boot)
        env.mark_good(b.slot)
        env.values.pop("rolled_back", None)
        write_env(boot, env)
        version = (info(boot, b.slot) or slots.SlotInfo("?", "", "")).version
        log.info("upgrade to %s (slot %s) is good: it boots from now on", version, b.slot)
    except (InstallError, OSError, bootenv.EnvError) as e:
        log.error("cannot mark slot %s good: %s (the next boot returns to the previous slot)", b.slot, e)


def watch_trial(up: threading.Event, timeout: float = TRIAL_TIMEOUT) -> threading.Thread | None:
    """On a trial boot: reboot into the previous slot if "services up" (`up`) is not reached within `timeout`."""
    b = booted()
    if not b.trial:
        return None

    def watch() -> None:
        if up.wait(timeout):
            return
        reason = f"services were not up within {timeout:.0f}s"
        log.error("trial boot of slot %s: %s; rebooting into the previous slot", b.slot, reason)
        try:
            boot = boot_dir()
            env = read_env(boot)
            env.values["tried_reason"] = reason
            write_env(boot, env)
        except (InstallError, OSError, bootenv.EnvError) as e:
            log.warning("cannot record why the trial failed: %s", e)
        os.kill(1, signal.SIGUSR1)   # PID 1's orderly reboot

    t = threading.Thread(target=watch, name="trial-watch", daemon=True)
    t.start()
    return t
