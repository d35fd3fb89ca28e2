"""Load the initrd's kernel modules without modprobe: finit_module(2) in modules.dep order.

The small initrd carries only the drivers that find the boot medium (storage, CD, squashfs, loop,
overlay), so it loads all of them; the rest of the modules come from the OS image after switch_root.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os

log = logging.getLogger(__name__)

SYS_FINIT_MODULE = 313  # x86_64
_libc = ctypes.CDLL(None, use_errno=True)


def load_order(modules_dep: str) -> list[str]:
    """Every module of a modules.dep, each after the modules it needs (pure)."""
    deps: dict[str, list[str]] = {}
    for line in modules_dep.splitlines():
        mod, sep, rest = line.partition(":")
        if sep:
            deps[mod.strip()] = rest.split()
    order: list[str] = []
    seen: set[str] = set()

    def visit(m: str) -> None:
        if m in seen:
            return
        seen.add(m)
        for d in reversed(deps.get(m, [])):  # modules.dep lists the deepest dependency last
            visit(d)
        order.append(m)

    for m in sorted(deps):
        visit(m)
    return order


def finit_module(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.syscall(SYS_FINIT_MODULE, fd, b"", 0) != 0:
            err = ctypes.get_errno()
            if err != errno.EEXIST:
                raise OSError(err, os.strerror(err), path)
    finally:
        os.close(fd)


def load_all(moddir: str) -> int:
    """Load every module under `moddir` (its modules.dep); a module that fails is one log line."""
    try:
        with open(os.path.join(moddir, "modules.dep")) as f:
            order = load_order(f.read())
    except OSError as e:
        log.error("initrd modules: %s", e)
        return 0
    loaded = 0
    for rel in order:
        try:
            finit_module(os.path.join(moddir, rel))
            loaded += 1
        except OSError as e:
            log.debug("module %s: %s", rel, e.strerror)
    return loaded
