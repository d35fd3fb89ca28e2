"""Writing files every container shares: whole replacement, or in place where a file is bind-mounted."""

import os
from pathlib import Path

from rancheros.config.store import write_atomic
from rancheros.system import mountinfo


def write_shared(path: str | os.PathLike, data: bytes | str, mode: int = 0o644) -> None:
    """Replace `path` atomically; a bind-mounted file (a rename would fail EBUSY) is rewritten in place,
    so that every container holding the same bind mount sees the new content."""
    path = Path(path)
    if isinstance(data, str):
        data = data.encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not mountinfo.is_mount_point(path):
        write_atomic(path, data, mode)
        return
    with open(path, "r+b") as f:
        f.write(data)
        f.truncate(len(data))
        f.flush()
        os.fsync(f.fileno())
