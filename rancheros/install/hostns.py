"""Run in the host's mount namespace: `ros install` and `ros os upgrade` usually run inside the console.

The console shares PID 1's PID namespace and is privileged, so it can join PID 1's mount namespace
(setns on /proc/1/ns/mnt): there the disks' partition nodes appear as the kernel makes them, the boot
partition is mounted, and the OS's own sfdisk, mkfs and losetup are on the PATH.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading

from rancheros.errors import InstallError

CLONE_NEWNS = 0x00020000


def enter(pid: int = 1) -> bool:
    """Join `pid`'s mount namespace if this process is elsewhere; True if it moved."""
    mine, theirs = "/proc/self/ns/mnt", f"/proc/{pid}/ns/mnt"
    try:
        if os.readlink(mine) == os.readlink(theirs):
            return False
    except OSError as e:
        raise InstallError(f"cannot see PID {pid}'s mount namespace ({e.strerror}): run this as root "
                           "on the host or in the console") from None
    if threading.active_count() > 1:
        raise InstallError("internal: the host's mount namespace must be joined before any thread starts")
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    fd = os.open(theirs, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(fd, CLONE_NEWNS) != 0:
            err = ctypes.get_errno()
            raise InstallError(f"cannot join the host's mount namespace: {os.strerror(err)} "
                               "(the console must be privileged)")
    finally:
        os.close(fd)
    os.chdir("/")
    return True
