"""The few syscalls the os module lacks: mount, umount2, reboot, prctl.

Called through ctypes on the C library so the frozen binary needs no helper
program for them (busybox may be missing in a broken initramfs).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SHARED = 1 << 20

MNT_FORCE = 1
MNT_DETACH = 2

RB_AUTOBOOT = 0x01234567
RB_HALT_SYSTEM = 0xCDEF0123
RB_POWER_OFF = 0x4321FEDC
RB_ENABLE_CAD = 0x89ABCDEF
RB_DISABLE_CAD = 0

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.reboot.argtypes = [ctypes.c_int]


def _check(rv: int, what: str, path: str | None = None) -> None:
    if rv != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}", path)


def _b(s: str | None) -> bytes | None:
    return None if s is None else os.fsencode(s)


def mount(source: str | None, target: str, fstype: str | None = None, flags: int = 0,
          data: str | None = None) -> None:
    """mount(2); raises OSError naming the target."""
    _check(_libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)), f"mount {target}", target)


def umount(target: str, flags: int = 0) -> None:
    """umount2(2); raises OSError naming the target."""
    _check(_libc.umount2(_b(target), flags), f"umount {target}", target)


def reboot(cmd: int) -> None:
    """reboot(2) with one of the RB_* commands; only returns on error (or for the CAD settings)."""
    _check(_libc.reboot(ctypes.c_int(cmd & 0xFFFFFFFF).value), "reboot")


PR_SET_PDEATHSIG = 1


def set_parent_death_signal(sig: int) -> None:
    """prctl(PR_SET_PDEATHSIG): this process gets `sig` when its parent exits (for helpers of an exec'd daemon)."""
    _check(_libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")
