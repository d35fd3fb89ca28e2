"""Early boot in PID 1: mounts, the OS image as the new root, switch_root, modules, state; then the PID 1 loop.

These steps run in PID 1 itself, before any child exists, because chroot only
changes the caller and nothing needs reaping yet. Any failure here is fatal to
the boot: PID 1 prints the cause and supervises a recovery shell instead.
"""

from __future__ import annotations

import linecache  # noqa: F401  (loaded now: the initrd's files are deleted after the switch)
import logging
import os
import traceback  # noqa: F401
from typing import NoReturn

from rancheros import config
from rancheros import log as boot_log
from rancheros.config.paths import ConfigPaths
from rancheros.errors import RosError
from rancheros.init import insmod, modules, mounts, osimage, recovery, root, state
from rancheros.init.console_stream import open_console
from rancheros.init.pid1 import Pid1, Pid1Config
from rancheros.init.switch_root import ensure_layout, switch_root

log = logging.getLogger(__name__)


def into_os_image(doc: dict) -> None:
    """From the initrd to the OS image: its drivers, the image found and checked, the switch."""
    loaded = insmod.load_all(f"/lib/modules/{os.uname().release}")
    image = osimage.locate(str(config.get(doc, "rancher.image") or osimage.DEFAULT_SOURCE))
    expected = osimage.expected_sha256()
    osimage.verify(image.path, expected)
    osimage.mount_root(image, root.NEWROOT)
    image.record(expected)
    old_root = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    try:
        switch_root(root.NEWROOT)
        files, size = root.clear_initrd(old_root)
    finally:
        os.close(old_root)
    log.info("root: OS image %s (from %s) mounted read-only; initrd: %d modules, %d files (%d MiB) freed",
             image.path, image.origin, loaded, files, size >> 20)


def early_boot() -> None:
    """Everything up to a running system in the real root."""
    paths = ConfigPaths.from_env()
    doc = config.load(paths)  # defaults and cmdline: the image and local layers are not here yet
    if config.get(doc, "rancher.debug") is True:
        logging.getLogger("rancheros").setLevel(logging.DEBUG)
    into_os_image(doc)
    ensure_layout()
    doc = config.load(paths)  # now with the image's layer
    modules.load(doc)
    dev = state.setup(state.StateSettings.from_config(doc), root.STATE_DIR)
    if dev is None:
        root.mount_memory_state(root.STATE_DIR)
    root.bind_persistent()


def run_manager() -> int | None:
    """The boot manager, imported only in the child PID 1 forks: PID 1 itself never loads Docker's SDK or psutil."""
    from rancheros.manager import main as boot_manager
    return boot_manager.run()


def boot_pid1(console_path: str | None = None) -> NoReturn:
    """PID 1's whole life: never returns, never raises."""
    os.environ.update(PATH="/sbin:/usr/sbin:/bin:/usr/bin", HOME="/")
    os.umask(0o022)
    failures = mounts.early()
    boot_log.setup(open_console(console_path), trace=boot_log.TRACE_FILE)
    log.info("init started")
    for f in failures:
        log.warning("%s", f)
    manager, name = run_manager, "boot manager"
    try:
        early_boot()
    except BaseException as e:  # anything at all: the operator gets a shell, the kernel no panic
        log.error("boot failed: %s", e, exc_info=not isinstance(e, (OSError, RosError)))  # ours: one line
        manager, name = recovery.shell, "recovery shell"
    Pid1(Pid1Config(manager=manager, name=name)).run()
