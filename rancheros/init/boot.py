"""Early boot in PID 1: mounts, config, modules, state, new root, switch_root; then the PID 1 loop.

These steps run in PID 1 itself, before any child exists, because chroot only
changes the caller and nothing needs reaping yet. Any failure here is fatal to
the boot: PID 1 prints the cause and supervises a recovery shell instead.
"""

from __future__ import annotations

import linecache  # noqa: F401  (loaded now: files vanish from the initramfs during the move)
import logging
import os
import traceback  # noqa: F401
from typing import NoReturn

from rancheros import config
from rancheros import log as boot_log
from rancheros.config.paths import ConfigPaths
from rancheros.init import manager as boot_manager
from rancheros.init import modules, mounts, recovery, root, state
from rancheros.init.console import open_console
from rancheros.init.pid1 import Pid1, Pid1Config
from rancheros.init.switch_root import ensure_layout, switch_root

log = logging.getLogger(__name__)


def early_boot() -> None:
    """Everything up to a running system in the real root."""
    paths = ConfigPaths.from_env()
    doc = config.load(paths)  # defaults, image and cmdline: the local layer is on the state disk
    if config.get(doc, "rancher.debug") is True:
        logging.getLogger("rancheros").setLevel(logging.DEBUG)
    modules.load(doc)
    root.mount_tmpfs_root(root.NEWROOT)
    dev = state.setup(state.StateSettings.from_config(doc), root.NEWROOT + root.STATE_DIR)
    if dev is not None:
        root.bind_persistent(root.NEWROOT)
    stats = root.move_tree("/", root.NEWROOT, skip={root.NEWROOT, *mounts.API_MOUNTS})
    switch_root(root.NEWROOT)
    ensure_layout()
    log.info("root: %d files (%d MiB) moved from the initramfs%s", stats.files, stats.bytes >> 20,
             "" if dev else " (memory mode)")


def boot_pid1(console_path: str | None = None) -> NoReturn:
    """PID 1's whole life: never returns, never raises."""
    os.environ.update(PATH="/sbin:/usr/sbin:/bin:/usr/bin", HOME="/")
    os.umask(0o022)
    failures = mounts.early()
    boot_log.setup(open_console(console_path))
    log.info("init started")
    for f in failures:
        log.warning("%s", f)
    manager, name = boot_manager.run, "boot manager"
    try:
        early_boot()
    except BaseException as e:  # anything at all: the operator gets a shell, the kernel no panic
        log.error("boot failed: %s", e, exc_info=not isinstance(e, OSError))
        manager, name = recovery.shell, "recovery shell"
    Pid1(Pid1Config(manager=manager, name=name)).run()
