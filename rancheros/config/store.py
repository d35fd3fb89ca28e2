"""The local config layer on disk: read, and update under a lock with an atomic, validated write.

A write goes to a temp file in the same directory, is fsynced, renamed over
the old file and the directory is fsynced: a crash leaves the old or the new
file, never a mix. An advisory flock on a side file serialises writers, so
concurrent `ros config set` calls never lose an update.
"""

import contextlib
import errno
import fcntl
import logging
import os
from pathlib import Path
from typing import Callable, Iterator

from rancheros.config.merge import copy_tree
from rancheros.config.paths import ConfigPaths
from rancheros.config.yamlio import dump_yaml, parse_mapping, read_bounded
from rancheros.errors import ConfigError, StoreError, ValidationError

log = logging.getLogger(__name__)

LOCAL_MODE = 0o600  # the local layer may hold private keys and TLS material
DIR_MODE = 0o700
TMP_MARK = ".tmp."


def _fail(what: str, path: os.PathLike, e: OSError) -> StoreError:
    return StoreError(f"cannot {what} {path}: {e.strerror or e}")


def write_atomic(path: os.PathLike, data: bytes, mode: int = LOCAL_MODE) -> None:
    """Replace `path` with `data` all-or-nothing: temp file, fsync, rename, fsync of the directory.
    A symlink stays one: its target is what gets replaced."""
    path = Path(path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    tmp = path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}.{os.urandom(4).hex()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
        try:
            os.fchmod(fd, mode)  # the umask must not widen or narrow it
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise _fail("write", path, e) from None
    fsync_dir(path.parent)


def fsync_dir(directory: os.PathLike) -> None:
    """Make a rename in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_dir(directory: Path, create: bool = True, write: bool = True) -> None:
    """Create the config dir (0700) when missing; a path that is no usable directory is an error."""
    if create:
        try:
            directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        except FileExistsError:
            raise StoreError(f"config dir {directory} is not a directory") from None
        except OSError as e:
            raise _fail("create config dir", directory, e) from None
    elif not directory.exists():
        return
    if not directory.is_dir():
        raise StoreError(f"config dir {directory} is not a directory")
    need = os.R_OK | os.X_OK | (os.W_OK if write else 0)
    if not os.access(directory, need):
        what = "readable and writable" if write else "readable"
        raise StoreError(f"config dir {directory} is not {what} (run as root?)")


class LocalStore:
    """Layer 4, `cloud-config.yml` in the config dir, as `ros config set/unset/merge` change it."""

    def __init__(self, paths: ConfigPaths):
        self.paths = paths
        self.path = paths.local
        self.lock_path = paths.config_dir / ".cloud-config.yml.lock"

    def read(self) -> dict:
        """The local layer as written ({} when absent); malformed content names file, line, column."""
        try:
            with open(self.path, "rb") as f:
                text = read_bounded(f, str(self.path))
        except (FileNotFoundError, NotADirectoryError):
            return {}
        except OSError as e:
            raise StoreError(f"cannot read {self.path}: {e.strerror or e}") from None
        return parse_mapping(text, str(self.path))

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the writers' advisory lock (the lock file outlives renames of the data file)."""
        ensure_dir(self.paths.config_dir)
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, LOCAL_MODE)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise StoreError(f"lock file {self.lock_path} is a symlink; remove it (refused)") from None
            raise _fail("open lock", self.lock_path, e) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _remove_stale_temps(self) -> None:
        """Temp files of writers killed mid-write (only called under the lock)."""
        for p in self.paths.config_dir.glob(f".{self.path.name}{TMP_MARK}*"):
            with contextlib.suppress(OSError):
                p.unlink()

    def update(self, fn: Callable[[dict], dict]) -> dict:
        """Apply `fn` to the local layer and write the result, unless it makes the config invalid."""
        with self.locked():
            self._remove_stale_temps()
            current = self.read()
            new = fn(copy_tree(current))
            if not isinstance(new, dict):
                raise ConfigError(f"the local config must be a mapping, got {type(new).__name__}")
            self.check(current, new)
            write_atomic(self.path, dump_yaml(new).encode("utf-8"), LOCAL_MODE)
            return new

    def check(self, current: dict, new: dict) -> None:
        """Refuse `new` when the merged config gets errors it did not have with `current`."""
        from rancheros.config.aliases import normalize
        from rancheros.config.layers import load_layers
        from rancheros.config.merge import merge_all
        from rancheros.config.schema import validate

        others = [layer for layer in load_layers(self.paths, local=False) if not layer.error]
        below = [layer.data for layer in others if layer.name != "cmdline"]
        above = [layer.data for layer in others if layer.name == "cmdline"]

        def errors(local: dict) -> list:
            merged = merge_all([*below, normalize(local, str(self.path)), *above])
            # the local layer on its own too: a value the command line hides is still refused
            found = validate(merged) + validate(normalize(local))
            return [p for p in found if p.severity == "error"]

        before = {(p.path, p.message) for p in errors(current)}
        new_errors = []
        for p in errors(new):
            if (p.path, p.message) not in before and p not in new_errors:
                new_errors.append(p)
        if new_errors:
            first = new_errors[0]
            raise ValidationError(f"invalid value for {first.path}: {first.message}; "
                                  f"{self.path} is unchanged", [str(p) for p in new_errors])
