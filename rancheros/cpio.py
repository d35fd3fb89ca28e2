"""A reproducible newc cpio writer (the initramfs format): sorted entries, fixed mtime, uid/gid 0."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO, Iterable


def _header(ino: int, mode: int, nlink: int, mtime: int, size: int, rdev: tuple[int, int], name: bytes) -> bytes:
    fields = [ino, mode, 0, 0, nlink, mtime, size, 0, 0, rdev[0], rdev[1], len(name) + 1, 0]
    return b"070701" + b"".join(b"%08X" % f for f in fields)


def _pad(n: int) -> bytes:
    return b"\0" * (-n % 4)


def write_entry(out: BinaryIO, ino: int, name: str, mode: int, data: bytes = b"", mtime: int = 0,
                rdev: tuple[int, int] = (0, 0)) -> None:
    raw = name.encode()
    head = _header(ino, mode, 2 if stat.S_ISDIR(mode) else 1, mtime, len(data), rdev, raw) + raw + b"\0"
    out.write(head + _pad(len(head)))
    out.write(data + _pad(len(data)))


def write_tree(root: Path, out: BinaryIO, mtime: int,
               devices: Iterable[tuple[str, int, int, int]] = ()) -> int:
    """Write every path under root (sorted, parents first) plus device nodes (name, mode, major, minor).

    Returns the uncompressed size in bytes.
    """
    root = Path(root)
    paths = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    ino = 1
    for rel in paths:
        p = root / rel
        st = os.lstat(p)
        mode = st.st_mode
        if stat.S_ISLNK(mode):
            data = os.readlink(p).encode()
        elif stat.S_ISREG(mode):
            data = p.read_bytes()
        else:
            data = b""
        write_entry(out, ino, rel, mode, data, mtime)
        ino += 1
    for name, mode, major, minor in devices:
        write_entry(out, ino, name, mode, b"", mtime, (major, minor))
        ino += 1
    write_entry(out, 0, "TRAILER!!!", 0)
    return out.tell()
