"""The real root: a tmpfs holding the OS files moved out of the initramfs, plus the persistent paths.

The initramfs (rootfs) cannot be pivot_root'ed away, and Docker needs
pivot_root; so PID 1 builds a new root and switches to it (switch_root.py).
Files move one at a time, each deleted from the initramfs as soon as it is
copied, so memory holds one copy of the OS plus one file, never two copies.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
from dataclasses import dataclass

from rancheros.init import libc

log = logging.getLogger(__name__)

NEWROOT = "/newroot"
STATE_DIR = "/mnt/state"  # where the state file system sits inside the new root
PERSISTENT = ("/var/lib/rancher", "/var/lib/system-docker", "/var/lib/docker", "/home", "/opt", "/var/log")


def persistent_binds(newroot: str, state_dir: str = STATE_DIR,
                     paths: tuple[str, ...] = PERSISTENT) -> list[tuple[str, str]]:
    """(source on the state fs, target in the new root) for each persistent path (pure)."""
    state = newroot + state_dir
    return [(state + p, newroot + p) for p in paths]


# tmpfs defaults to half the RAM: below ~700 MB the OS's 320 MiB would not fit. The root is the OS
# itself (and, without a state disk, all data), so it may use most of the memory.
ROOT_TMPFS_OPTIONS = "mode=0755,size=90%"


def mount_tmpfs_root(newroot: str = NEWROOT) -> None:
    """A fresh tmpfs for the new root."""
    os.makedirs(newroot, exist_ok=True)
    libc.mount("rootfs", newroot, "tmpfs", 0, ROOT_TMPFS_OPTIONS)


def bind_persistent(newroot: str = NEWROOT) -> None:
    """Bind each persistent directory of the state fs onto the new root."""
    for src, dst in persistent_binds(newroot):
        os.makedirs(src, exist_ok=True)
        os.makedirs(dst, exist_ok=True)
        libc.mount(src, dst, None, libc.MS_BIND)


@dataclass
class MoveStats:
    """What move_tree did, for the console line."""

    files: int = 0
    bytes: int = 0
    kept: int = 0  # already present in the new root (persistent data wins over the image)


def _copy_meta(st: os.stat_result, dst: str) -> None:
    os.chown(dst, st.st_uid, st.st_gid, follow_symlinks=False)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(dst, stat.S_IMODE(st.st_mode))
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))


def _move_entry(src: str, dst: str, st: os.stat_result, links: dict, stats: MoveStats) -> None:
    """Recreate one non-directory entry at dst, then delete src; hard links stay links."""
    if os.path.lexists(dst):
        stats.kept += 1
    elif (st.st_dev, st.st_ino) in links:  # nlink has dropped as earlier names were moved
        os.link(links[(st.st_dev, st.st_ino)], dst)
    else:
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(src), dst)
        elif stat.S_ISREG(st.st_mode):
            shutil.copyfile(src, dst, follow_symlinks=False)
            stats.bytes += st.st_size
        else:
            os.mknod(dst, st.st_mode, st.st_rdev)
        _copy_meta(st, dst)
        if st.st_nlink > 1:
            links[(st.st_dev, st.st_ino)] = dst
        stats.files += 1
    os.unlink(src)


def move_tree(src_root: str, dst_root: str, skip: set[str]) -> MoveStats:
    """Move everything on src_root's file system into dst_root, one entry at a time.

    Paths in `skip` are left alone; other mounts' mount points are created empty but not entered.
    """
    stats = MoveStats()
    links: dict[tuple[int, int], str] = {}
    root_dev = os.lstat(src_root).st_dev
    emptied: list[str] = []
    for dirpath, dirnames, filenames in os.walk(src_root, topdown=True):
        rel = os.path.relpath(dirpath, src_root)
        target_dir = dst_root if rel == "." else os.path.join(dst_root, rel)
        keep_dirs = []
        for name in dirnames + filenames:
            src = os.path.join(dirpath, name)
            dst = os.path.join(target_dir, name)
            if src in skip:
                continue
            st = os.lstat(src)
            if stat.S_ISDIR(st.st_mode):
                if not os.path.isdir(dst):
                    os.mkdir(dst)
                    _copy_meta(st, dst)
                if st.st_dev != root_dev:
                    continue  # another mount: its mount point comes along, not its contents
                keep_dirs.append(name)
            else:
                _move_entry(src, dst, st, links, stats)
        dirnames[:] = keep_dirs
        if dirpath != src_root:
            emptied.append(dirpath)
    for d in reversed(emptied):
        try:
            os.rmdir(d)
        except OSError:
            pass  # holds a mount point or something we skipped
    return stats
