"""Shared-library closure of ELF files, resolved inside a root tree (not the host).

DT_NEEDED and PT_INTERP come from `readelf`; each soname is looked up in the
tree's library directories, following symlinks.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Iterable

from rosbuild.errors import BuildError

LIB_DIRS = ["usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu", "usr/lib64", "lib64", "usr/lib", "lib"]
_NEEDED = re.compile(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]")
_INTERP = re.compile(r"\[Requesting program interpreter: ([^\]]+)\]")


def is_elf(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def parse_readelf(text: str) -> tuple[list[str], list[str]]:
    """(needed sonames, interpreters) from `readelf -d -l` output."""
    return _NEEDED.findall(text), _INTERP.findall(text)


def dependencies(path: Path) -> tuple[list[str], list[str]]:
    res = subprocess.run(["readelf", "-d", "-l", "-W", str(path)], capture_output=True, text=True)
    if res.returncode != 0 and "Not an ELF" in res.stderr:
        return [], []
    return parse_readelf(res.stdout)


def _inside(root: Path, rel: str) -> Path:
    """Resolve a path inside `root` following symlinks as if root were /."""
    parts = Path(rel.lstrip("/")).parts
    cur = root
    for i, part in enumerate(parts):
        nxt = cur / part
        hops = 0
        while nxt.is_symlink() and hops < 40:
            target = Path(nxt.readlink())
            nxt = (root / str(target).lstrip("/")) if target.is_absolute() else (nxt.parent / target)
            hops += 1
        cur = nxt
    return cur


def find_library(root: Path, soname: str, extra_dirs: Iterable[Path] = ()) -> Path | None:
    """The path (inside root) of a soname, or None."""
    for d in list(extra_dirs) + [root / d for d in LIB_DIRS]:
        cand = Path(d) / soname
        if cand.exists() or cand.is_symlink():
            return cand
    return None


def closure(files: Iterable[Path], root: Path, provided: Iterable[Path] = ()) -> set[Path]:
    """Every library path (symlinks and their targets) inside `root` that `files` need, transitively.

    Libraries found in `provided` directories (e.g. PyInstaller's _internal) count as satisfied.
    Raises BuildError naming each unresolved soname and who needs it.
    """
    provided = [Path(p) for p in provided]
    result: set[Path] = set()
    seen: set[Path] = set()
    todo = [Path(f) for f in files if is_elf(f)]
    missing: list[str] = []
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        needed, interps = dependencies(f)
        for interp in interps:
            p = root / interp.lstrip("/")
            result.add(p)
            real = _inside(root, interp)
            if not real.exists():
                missing.append(f"{interp} (interpreter of {f.name})")
            else:
                result.add(real)
        for soname in needed:
            if any((d / soname).exists() for d in provided):
                continue
            lib = find_library(root, soname)
            if lib is None:
                missing.append(f"{soname} (needed by {f.name})")
                continue
            result.add(lib)
            real = _inside(root, str(lib.relative_to(root)))
            result.add(real)
            todo.append(real)
    if missing:
        raise BuildError("unresolved shared libraries: " + ", ".join(sorted(set(missing)))
                         + " — add the Debian package that ships them to the recipe")
    return result
