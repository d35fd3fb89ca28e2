"""The real root's persistent paths, and the initrd's memory given back once the root is switched.

The root itself is the OS image under an overlay (osimage.py). What must outlive a reboot lives
on the state file system at STATE_DIR (the state disk, or a tmpfs in memory mode, so that both
Dockers keep overlay2: an overlay cannot carry their upper directories) and is bind-mounted here.
"""

from __future__ import annotations

import logging
import os
import stat

from rancheros.system import libc

log = logging.getLogger(__name__)

NEWROOT = "/newroot"
STATE_DIR = "/mnt/state"  # where the state file system sits inside the new root
PERSISTENT = ("/var/lib/rancher", "/var/lib/system-docker", "/var/lib/docker", "/home", "/opt", "/var/log")


def persistent_binds(newroot: str, state_dir: str = STATE_DIR,
                     paths: tuple[str, ...] = PERSISTENT) -> list[tuple[str, str]]:
    """(source on the state fs, target in the new root) for each persistent path (pure)."""
    state = newroot + state_dir
    return [(state + p, newroot + p) for p in paths]


# Memory mode: the state is a tmpfs that may use most of the RAM (it holds every container and image).
MEMORY_STATE_OPTIONS = "mode=0755,size=90%"


def mount_memory_state(state_dir: str = STATE_DIR) -> None:
    """No state disk: a tmpfs stands in for it, so the data paths are not on the overlay root."""
    os.makedirs(state_dir, exist_ok=True)
    libc.mount("state", state_dir, "tmpfs", 0, MEMORY_STATE_OPTIONS)


def bind_persistent(newroot: str = "") -> None:
    """Bind each persistent directory of the state fs onto the new root."""
    for src, dst in persistent_binds(newroot):
        os.makedirs(src, exist_ok=True)
        os.makedirs(dst, exist_ok=True)
        libc.mount(src, dst, None, libc.MS_BIND)


def clear_initrd(old_root: int) -> tuple[int, int]:
    """Delete the initrd's files (the old root, reached through an fd opened before the switch).

    They are RAM (ramfs) until deleted. A file still in use, the image of a kernel+initrd boot behind
    its loop device or PID 1's own mapped binary, is freed when its last user lets go.
    Returns (files, bytes) deleted; nothing below another mount is touched.
    """
    files = size = 0
    root_dev = os.fstat(old_root).st_dev
    for top, dirs, names, fd in os.fwalk(".", topdown=False, dir_fd=old_root):
        for name in names:
            try:
                st = os.lstat(name, dir_fd=fd)
                os.unlink(name, dir_fd=fd)
            except OSError:
                continue
            files += 1
            size += st.st_size if stat.S_ISREG(st.st_mode) else 0
        for name in dirs:
            try:
                if os.lstat(name, dir_fd=fd).st_dev == root_dev:
                    os.rmdir(name, dir_fd=fd)
            except OSError:
                pass  # a mount point, or not empty
    return files, size
