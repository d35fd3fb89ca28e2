"""Applying cloud-config to the machine: write_files, scripts, runcmd, mounts.

Each item is checked before anything of it is done; one that fails is one
logged error naming it (index, path, why) and is not applied at all, the other
items still are. Every path stays inside the root it is given (symlinks
resolved). Scripts and runcmd run once per instance id (markers on the state
disk), as cloud-init does.
"""

import base64
import binascii
import grp
import logging
import os
import pwd
import shlex
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rancheros.cloudinit.limits import MAX_DECOMPRESSED, UserDataError, gunzip
from rancheros.cloudinit.userdata import Script
from rancheros.config.schema import describe
from rancheros.config.store import write_atomic
from rancheros.errors import ConfigError, RosError
from rancheros.system import command

log = logging.getLogger(__name__)

ENCODINGS = {
    "": (), "text/plain": (),
    "b64": ("b64",), "base64": ("b64",),
    "gz": ("gz",), "gzip": ("gz",),
    "gz+b64": ("b64", "gz"), "gz+base64": ("b64", "gz"),
    "gzip+b64": ("b64", "gz"), "gzip+base64": ("b64", "gz"),
}
RUN_TIMEOUT = 600.0  # seconds a runcmd item or user-data script may take
MAX_NAME = 64        # characters of a script name or instance id kept in a state file name
MAX_ID = 2**32 - 2   # the largest uid/gid chown takes (-1 means "unchanged")


class ItemError(ConfigError):
    """One cloud-config item could not be applied (the message names it)."""


@dataclass(frozen=True)
class Target:
    """Where to apply: the root filesystem and the per-instance state directory."""

    root: Path = Path("/")
    state_dir: Path = Path("/var/lib/rancher/cloud-init")


@dataclass(frozen=True)
class FileItem:
    """One write_files entry, checked: nothing of it is done until all of it is known to be right."""

    path: Path
    data: bytes
    mode: int
    owner: tuple[int, int] | None
    append: bool


def _shown(value: Any) -> str:
    """A value for a log line: repr'd (NUL and newlines visible), at most 80 characters."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def decode_content(content: Any, encoding: Any) -> bytes:
    """Bytes of a write_files `content` after its `encoding` (b64, gzip, gz+b64); gzip bounded."""
    if encoding is not None and not isinstance(encoding, str):
        raise ItemError(f"encoding must be a string (b64, gzip, gz+b64), got {describe(encoding)}")
    steps = ENCODINGS.get((encoding or "").strip().lower())
    if steps is None:
        raise ItemError(f"unknown encoding {encoding!r} (b64, gzip, gz+b64)")
    if content is not None and not isinstance(content, (str, bytes)):
        raise ItemError(f"content must be a string, got {describe(content)}")
    data = content if isinstance(content, bytes) else (content or "").encode("utf-8", "surrogateescape")
    for step in steps:
        data = _b64(data) if step == "b64" else _gunzip(data)
    return data


def _b64(data: bytes) -> bytes:
    try:
        return base64.b64decode(data)
    except (binascii.Error, ValueError) as e:
        raise ItemError(f"content is not valid base64 data: {e}") from None


def _gunzip(data: bytes) -> bytes:
    try:
        return gunzip(data, "content", MAX_DECOMPRESSED)
    except UserDataError as e:
        raise ItemError(str(e).removeprefix("content: ")) from None


def parse_mode(permissions: Any) -> int:
    """`permissions` as cloud-init writes them: '0644', 644 (read as octal digits) or 0o644."""
    if permissions is None or permissions == "":
        return 0o644
    if isinstance(permissions, bool) or not isinstance(permissions, (str, int)):
        raise ItemError(f"permissions must be an octal mode like '0644', got {describe(permissions)}")
    text = str(permissions).strip()
    try:
        if len(text) > 12:
            raise ValueError(text)
        mode = int(text, 8)
    except ValueError:
        raise ItemError(f"permissions {_shown(permissions)} is not an octal mode like '0644'") from None
    if not 0 <= mode <= 0o7777:
        raise ItemError(f"permissions {_shown(permissions)} is out of range (0000 to 7777)")
    return mode


def resolve_inside(root: Path, path: Any, what: str = "path") -> Path:
    """`path` under `root` with every symlink resolved; ItemError unless it is absolute and stays inside."""
    if not isinstance(path, str):
        raise ItemError(f"{what} must be a string, got {describe(path)}")
    if "\0" in path:
        raise ItemError(f"{what} {_shown(path)} contains a NUL byte")
    if not path.startswith("/"):
        raise ItemError(f"{what} {_shown(path)} must be absolute")
    try:
        real_root = root.resolve()
        target = (real_root / path.lstrip("/")).resolve()
    except (OSError, RuntimeError) as e:  # RuntimeError: a symlink loop
        raise ItemError(f"{what} {_shown(path)} cannot be resolved: {e}") from None
    if target != real_root and real_root not in target.parents:
        raise ItemError(f"{what} {_shown(path)} is outside the root filesystem")
    if target == real_root:
        raise ItemError(f"{what} {_shown(path)} is the root directory itself")
    return target


def _id(text: str, lookup, kind: str) -> int:
    if text.isascii() and text.isdigit():
        number = int(text)
        if number > MAX_ID:
            raise ItemError(f"{kind} id {text} is out of range")
        return number
    return lookup(text)


def owner_ids(owner: Any) -> tuple[int, int]:
    """uid and gid of `user[:group]` (names or numbers); the user's own group when none is given."""
    if isinstance(owner, int) and not isinstance(owner, bool):
        owner = str(owner)
    if not isinstance(owner, str) or not owner.strip():
        raise ItemError(f"owner must be a string like 'root:root', got {describe(owner)}")
    user, _, group = owner.strip().partition(":")
    try:
        uid = _id(user, lambda n: pwd.getpwnam(n).pw_uid, "user")
        gid = _id(group, lambda n: grp.getgrnam(n).gr_gid, "group") if group else pwd.getpwuid(uid).pw_gid
    except (KeyError, ValueError, OverflowError):
        raise ItemError(f"owner {_shown(owner)}: no such user or group") from None
    return uid, gid


def _check_writable(path: Path, shown: str) -> None:
    """ItemError unless `path` is missing or a regular file (not a directory, FIFO, device...)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as e:
        raise ItemError(f"path {_shown(shown)}: {e.strerror or e}") from None
    if stat.S_ISDIR(mode):
        raise ItemError(f"path {_shown(shown)} is a directory")
    if not stat.S_ISREG(mode):
        raise ItemError(f"path {_shown(shown)} is not a regular file")


def check_file(item: Any, target: Target) -> FileItem:
    """One write_files entry checked against the root: every field, and the path inside it."""
    if not isinstance(item, dict):
        raise ItemError(f"entry must be a map (path, content, ...), got {describe(item)}")
    path = resolve_inside(target.root, item.get("path"))
    _check_writable(path, item["path"])
    append = item.get("append")
    if append is not None and not isinstance(append, bool):
        raise ItemError(f"append must be true or false, got {describe(append)}")
    data = decode_content(item.get("content"), item.get("encoding"))
    mode = parse_mode(item.get("permissions"))
    owner = owner_ids(item["owner"]) if item.get("owner") is not None else None
    return FileItem(path, data, mode, owner, bool(append))


def _write_fd(fd: int, f: FileItem) -> None:
    if f.owner:
        os.fchown(fd, *f.owner)
    os.fchmod(fd, f.mode)
    view = memoryview(f.data)
    while view:
        view = view[os.write(fd, view):]
    os.fsync(fd)


def _append(f: FileItem) -> None:
    """Append in place: owner and mode first, so a refused chown leaves the file as it was."""
    existed = f.path.exists()
    fd = os.open(f.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                 0o600)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ItemError("not a regular file")
        _write_fd(fd, f)
    except BaseException:
        if not existed:
            os.unlink(f.path)
        raise
    finally:
        os.close(fd)


def _replace(f: FileItem) -> None:
    """Write a temporary file beside the target (owner, mode, data), then rename it over the target."""
    tmp = f.path.parent / f".ros-write-{os.getpid()}-{os.urandom(4).hex()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        try:
            _write_fd(fd, f)
        finally:
            os.close(fd)
        os.replace(tmp, f.path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_file(item: Any, target: Target) -> Path:
    """Apply one write_files entry: all checked first, then written (atomically unless appending)."""
    f = check_file(item, target)
    try:
        f.path.parent.mkdir(parents=True, exist_ok=True)
        _append(f) if f.append else _replace(f)
    except OSError as e:
        raise ItemError(f"cannot write {f.path}: {e.strerror or e}") from None
    return f.path


def _entry_name(index: int, item: Any) -> str:
    path = item.get("path") if isinstance(item, dict) else None
    return f"write_files[{index}]" + (f" {_shown(path)}" if path is not None else "")


def write_files(items: Any, target: Target) -> int:
    """Apply every write_files entry; a bad one is one line (index, path, why) and skipped. Returns failures."""
    if items is None:
        return 0
    if not isinstance(items, list):
        log.error("cloud-init: write_files must be a list of entries, got %s (ignored)", describe(items))
        return 1
    failed = 0
    for index, item in enumerate(items):
        try:
            path = write_file(item, target)
            log.info("cloud-init: wrote %s", path)
        except ItemError as e:
            failed += 1
            log.error("cloud-init: %s: %s (skipped)", _entry_name(index, item), e)
    return failed


def safe_name(text: str, default: str) -> str:
    """`text` as one short file name: letters, digits and -._ kept, others '_', at most MAX_NAME characters."""
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "-._") else "_" for c in text or default)
    safe = safe[:MAX_NAME]
    return safe if safe.strip(".") else default


def _marker(target: Target, instance_id: str, name: str) -> Path:
    return target.state_dir / "instances" / safe_name(instance_id, "no-instance-id") / "sem" / name


def once(target: Target, instance_id: str, name: str) -> bool:
    """True the first time `name` is asked for this instance id (and records it)."""
    marker = _marker(target, instance_id, name)
    if marker.exists():
        return False
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("done\n")
    return True


def _run(argv: list[str], name: str, cwd: Path) -> bool:
    """Run one command, log its output line by line; False when it failed."""
    try:
        res = command.run(argv, name, RUN_TIMEOUT, cwd=str(cwd), ok=None, merge_output=True)
    except command.CommandError as e:
        log.error("cloud-init: %s", e)
        return False
    for line in res.stdout.splitlines():
        log.info("cloud-init: %s: %s", name, line)
    if res.returncode != 0:
        log.error("cloud-init: %s failed (%s)", name, command.exit_words(res.returncode))
        return False
    return True


def _run_script(index: int, script: Script, instance_id: str, target: Target) -> bool:
    name = f"script {_shown(script.name)}"
    base = f"{index:03d}-{safe_name(Path(script.name.replace(chr(0), '_')).name, 'script')}"
    if not once(target, instance_id, f"script-{base}"):
        log.info("cloud-init: %s already ran for instance %s", name, instance_id or "(none)")
        return True
    path = target.state_dir / "scripts" / base
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, script.content, 0o700)
    return _run([str(path)], name, target.root)


def run_scripts(scripts: list[Script], instance_id: str, target: Target) -> int:
    """Run user-data scripts once per instance id; returns how many failed."""
    failed = 0
    for index, script in enumerate(scripts):
        try:
            ok = _run_script(index, script, instance_id, target)
        except (OSError, RosError) as e:
            log.error("cloud-init: script %s: %s", _shown(script.name), e)
            ok = False
        failed += not ok
    return failed


def command_argv(cmd: Any) -> list[str]:
    """runcmd item as argv: a string through /bin/sh -c, a list of scalars as is; ItemError otherwise."""
    if isinstance(cmd, str):
        argv = ["/bin/sh", "-c", cmd]
    elif isinstance(cmd, list) and cmd and all(isinstance(a, (str, int, float)) for a in cmd):
        argv = [str(a) for a in cmd]
    else:
        raise ItemError(f"expected a string or a non-empty list of strings, got {describe(cmd)}")
    if any("\0" in a for a in argv):
        raise ItemError("contains a NUL byte")
    return argv


def run_commands(commands: Any, instance_id: str, target: Target) -> int:
    """runcmd: strings through /bin/sh -c, lists as argv; once per instance id."""
    if commands is None or commands == []:
        return 0
    if not isinstance(commands, list):
        log.error("cloud-init: runcmd must be a list of commands, got %s (ignored)", describe(commands))
        return 1
    try:
        if not once(target, instance_id, "runcmd"):
            return 0
    except OSError as e:
        log.error("cloud-init: runcmd: cannot record that it ran: %s (not run)", e)
        return 1
    failed = 0
    for index, cmd in enumerate(commands):
        try:
            argv = command_argv(cmd)
        except ItemError as e:
            log.error("cloud-init: runcmd[%d] %s: %s (skipped)", index, _shown(cmd), e)
            failed += 1
            continue
        name = f"runcmd[{index}] {cmd if isinstance(cmd, str) else shlex.join(argv)}"
        failed += not _run(argv, name, target.root)
    return failed


def _mount_field(entry: list, index: int, what: str) -> str:
    value = entry[index] if len(entry) > index else None
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ItemError(f"{what} must be a string, got {describe(value)}")
    if "\0" in str(value):
        raise ItemError(f"{what} {_shown(value)} contains a NUL byte")
    return str(value)


def mount_argv(entry: Any, target: Target) -> list[str]:
    """`mount` argv for one `mounts` entry [device, mountpoint, fstype, options], mount point inside the root."""
    if not isinstance(entry, list) or len(entry) < 2:
        raise ItemError("expected [device, mountpoint, fstype, options]")
    device = _mount_field(entry, 0, "device")
    if not device or device.startswith("-"):
        raise ItemError(f"device {_shown(device)} must be a device, LABEL=, UUID= or a source, not an option")
    point = resolve_inside(target.root, entry[1], "mount point")
    fstype, options = _mount_field(entry, 2, "fstype"), _mount_field(entry, 3, "options")
    argv = ["mount"]
    if fstype and fstype != "auto":
        argv += ["-t", fstype]
    if options and options != "defaults":
        argv += ["-o", options]
    return argv + [device, str(point)]


def mount_all(mounts: Any, target: Target = Target()) -> int:
    """cloud-config `mounts`: [device, mountpoint, fstype, options] each, mount points inside the root."""
    if mounts is None:
        return 0
    if not isinstance(mounts, list):
        log.error("cloud-init: mounts must be a list of [device, mountpoint, fstype, options], got %s (ignored)",
                  describe(mounts))
        return 1
    failed = 0
    for index, entry in enumerate(mounts):
        try:
            argv = mount_argv(entry, target)
            Path(argv[-1]).mkdir(parents=True, exist_ok=True)
        except (ItemError, OSError) as e:
            log.error("cloud-init: mounts[%d] %s: %s (skipped)", index, _shown(entry), e)
            failed += 1
            continue
        failed += not _run(argv, f"mount {argv[-2]} {argv[-1]}", target.root)
    return failed
