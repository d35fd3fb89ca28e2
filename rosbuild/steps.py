"""Build steps: progress lines with elapsed time, input-hash stamps, command runner.

A step whose input hash matches its stamp (and whose outputs exist) is skipped,
so a second build with unchanged inputs rebuilds nothing.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence

from rosbuild.errors import BuildError

ROOT = Path(__file__).resolve().parent.parent
DIST = Path(os.environ.get("ROS_DIST") or ROOT / "dist" / "artifacts")   # ROS_DIST: a second build (tests)
SOURCE_DATE_EPOCH = int(os.environ.get("SOURCE_DATE_EPOCH", "1700000000"))


def cache_dir() -> Path:
    """The build cache, outside the clone: $ROS_BUILD_CACHE or /var/cache/rancheros-build."""
    path = Path(os.environ.get("ROS_BUILD_CACHE", "/var/cache/rancheros-build"))
    path.mkdir(parents=True, exist_ok=True)
    return path


_T0 = time.monotonic()
_current_step: list[str] = []


def say(msg: str) -> None:
    """One progress line with the time since the build started."""
    print(f"[{time.monotonic() - _T0:7.1f}s] {msg}", flush=True)


@contextmanager
def step(name: str) -> Iterator[None]:
    """Announce a step, time it, and name it in any BuildError raised inside."""
    say(f"{name} ...")
    _current_step.append(name)
    t = time.monotonic()
    try:
        yield
    except BuildError:
        raise
    except Exception as exc:  # an unexpected error still names the step
        raise BuildError(f"step '{name}' failed: {exc.__class__.__name__}: {exc}") from exc
    finally:
        _current_step.pop()
    say(f"{name}: done in {time.monotonic() - t:.1f}s")


@contextmanager
def naming(name: str) -> Iterator[None]:
    """Name the work inside in any BuildError `run` raises, without a step's progress lines."""
    _current_step.append(name)
    try:
        yield
    finally:
        _current_step.pop()


def run(cmd: Sequence[str], *, cwd: Optional[Path] = None, env: Optional[dict] = None,
        input: Optional[bytes] = None, tail: int = 30, timeout: Optional[float] = None) -> str:
    """Run a command; on failure (or past `timeout` seconds) raise BuildError naming the step and the output tail."""
    where = _current_step[-1] if _current_step else "build"
    try:
        res = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, input=input,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        lines = tail_of((exc.stdout or b"").decode(errors="replace"), tail)
        raise BuildError(f"step '{where}': {' '.join(map(str, cmd[:6]))}... did not finish in {timeout:.0f}s\n"
                         f"{lines}") from None
    out = res.stdout.decode(errors="replace")
    if res.returncode != 0:
        lines = "\n".join(out.splitlines()[-tail:])
        raise BuildError(f"step '{where}': {' '.join(map(str, cmd[:6]))}... exited {res.returncode}\n{lines}")
    return out


def hash_files(paths: Iterable[Path], base: Optional[Path] = None) -> str:
    """A hash over file names and contents (directories walked, sorted)."""
    h = hashlib.sha256()
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files += [f for f in p.rglob("*") if f.is_file() and "__pycache__" not in f.parts]
        elif p.exists():
            files.append(p)
    for f in sorted(set(files)):
        h.update(str(f.relative_to(base) if base else f).encode() + b"\0")
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


def sha256_file(path: Path) -> str:
    """The hex sha256 of one file's contents."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def hash_data(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


@contextmanager
def build_lock() -> Iterator[None]:
    """Serialise builds sharing the cache (several test sessions, engineers, CI jobs)."""
    with open(cache_dir() / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@dataclass
class Stamp:
    """Records the input hash a step's outputs were built from."""

    name: str
    inputs: str

    @property
    def path(self) -> Path:
        return cache_dir() / "stamps" / f"{self.name}.stamp"

    def fresh(self, *outputs: Path) -> bool:
        return (self.path.exists() and self.path.read_text() == self.inputs
                and all(Path(o).exists() for o in outputs))

    def done(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(self.inputs)


def tail_of(text: str, lines: int = 30) -> str:
    return "\n".join(text.splitlines()[-lines:])


def warn(msg: str) -> None:
    print(f"warning: {msg}", file=sys.stderr, flush=True)
