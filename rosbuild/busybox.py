"""busybox applet links (`busybox --list-full`), placed in merged /usr without overwriting anything."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Iterable


def applets(busybox: Path) -> list[Path]:
    """Applet paths busybox knows, mapped into merged /usr (bin/sh -> usr/bin/sh)."""
    out = subprocess.run([str(busybox), "--list-full"], capture_output=True, text=True, check=True).stdout
    paths = []
    for entry in out.split():
        rel = Path(entry)
        paths.append(Path("usr", *rel.parts) if rel.parts[0] in ("bin", "sbin") else rel)
    return paths


def link_applets(root: Path, busybox_rel: str = "usr/bin/busybox", skip: Iterable[str] = ()) -> int:
    """Link each applet to busybox where no file or link exists yet; returns how many were made."""
    skip, n = set(skip) | {"busybox"}, 0
    target_abs = root / busybox_rel
    for rel in applets(target_abs):
        if rel.name in skip:
            continue
        link = root / rel
        if link.exists() or link.is_symlink():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(target_abs, link.parent))
        n += 1
    return n
