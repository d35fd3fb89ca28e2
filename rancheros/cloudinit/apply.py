"""Applying cloud-config to the machine: write_files, scripts, runcmd, mounts.

Each item that fails is one logged error naming it; the other items are still
applied. Scripts and runcmd run once per instance id (markers on the state
disk), as cloud-init does.
"""

import base64
import binascii
import gzip
import logging
import os
import pwd
import grp
import shlex
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rancheros.cloudinit.userdata import Script
from rancheros.config.store import write_atomic

log = logging.getLogger(__name__)

ENCODINGS = {
    "": (), "text/plain": (),
    "b64": ("b64",), "base64": ("b64",),
    "gz": ("gz",), "gzip": ("gz",),
    "gz+b64": ("b64", "gz"), "gz+base64": ("b64", "gz"),
    "gzip+b64": ("b64", "gz"), "gzip+base64": ("b64", "gz"),
}


class ItemError(ValueError):
    """One cloud-config item could not be applied (the message names it)."""


@dataclass(frozen=True)
class Target:
    """Where to apply: the root filesystem and the per-instance state directory."""

    root: Path = Path("/")
    state_dir: Path = Path("/var/lib/rancher/cloud-init")


def decode_content(content: Any, encoding: str) -> bytes:
    """Bytes of a write_files `content` after its `encoding` (b64, gzip, gz+b64)."""
    steps = ENCODINGS.get((encoding or "").strip().lower())
    if steps is None:
        raise ItemError(f"unknown encoding {encoding!r} (b64, gzip, gz+b64)")
    data = content if isinstance(content, bytes) else str(content if content is not None else "").encode()
    for step in steps:
        try:
            data = base64.b64decode(data) if step == "b64" else gzip.decompress(data)
        except (binascii.Error, ValueError, OSError, EOFError, zlib.error) as e:
            raise ItemError(f"content is not valid {'base64' if step == 'b64' else 'gzip'} data: {e}") from None
    return data


def parse_mode(permissions: Any) -> int:
    """`permissions` as cloud-init writes them: '0644', 644 (read as octal digits) or 0o644."""
    if permissions is None or permissions == "":
        return 0o644
    text = str(permissions).strip()
    try:
        mode = int(text, 8)
    except ValueError:
        raise ItemError(f"permissions {permissions!r} is not an octal mode like '0644'") from None
    if not 0 <= mode <= 0o7777:
        raise ItemError(f"permissions {permissions!r} is out of range")
    return mode


def resolve_inside(root: Path, path: str) -> Path:
    """`path` under `root`, refusing relative paths and any that escape the root."""
    if not path or not str(path).startswith("/"):
        raise ItemError(f"path {path!r} must be absolute")
    real_root = root.resolve()
    target = (real_root / str(path).lstrip("/")).resolve()
    if target != real_root and real_root not in target.parents:
        raise ItemError(f"path {path!r} is outside the root filesystem")
    return target


def _owner_ids(owner: str) -> tuple[int, int]:
    user, _, group = str(owner).partition(":")
    try:
        uid = int(user) if user.isdigit() else pwd.getpwnam(user).pw_uid
        gid = int(group) if group.isdigit() else (grp.getgrnam(group).gr_gid if group else pwd.getpwuid(uid).pw_gid)
    except KeyError:
        raise ItemError(f"owner {owner!r}: no such user or group") from None
    return uid, gid


def write_file(item: dict, target: Target) -> Path:
    """Apply one write_files entry."""
    if not isinstance(item, dict):
        raise ItemError("entry is not a map")
    path = resolve_inside(target.root, item.get("path", ""))
    data = decode_content(item.get("content", ""), item.get("encoding", ""))
    mode = parse_mode(item.get("permissions"))
    uid_gid = _owner_ids(item["owner"]) if item.get("owner") else None
    path.parent.mkdir(parents=True, exist_ok=True)
    if item.get("append"):
        with open(path, "ab") as f:
            f.write(data)
        os.chmod(path, mode)
    else:
        write_atomic(path, data, mode)
    if uid_gid:
        os.chown(path, *uid_gid)
    return path


def write_files(items: Any, target: Target) -> int:
    """Apply every write_files entry; returns how many failed."""
    failed = 0
    for index, item in enumerate(items or []):
        name = item.get("path", f"#{index + 1}") if isinstance(item, dict) else f"#{index + 1}"
        try:
            path = write_file(item, target)
            log.info("cloud-init: wrote %s", path)
        except (ItemError, OSError) as e:
            failed += 1
            log.error("cloud-init: write_files %s: %s", name, e)
    return failed


def _marker(target: Target, instance_id: str, name: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-._" else "_" for c in instance_id or "no-instance-id")
    return target.state_dir / "instances" / safe / "sem" / name


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
        res = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=cwd, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        log.error("cloud-init: %s: cannot run: %s", name, e)
        return False
    for line in res.stdout.decode("utf-8", "replace").splitlines():
        log.info("cloud-init: %s: %s", name, line)
    if res.returncode != 0:
        log.error("cloud-init: %s failed with exit status %d", name, res.returncode)
        return False
    return True


def run_scripts(scripts: list[Script], instance_id: str, target: Target) -> int:
    """Run user-data scripts once per instance id; returns how many failed."""
    failed = 0
    script_dir = target.state_dir / "scripts"
    for index, script in enumerate(scripts):
        name = f"script {script.name}"
        if not once(target, instance_id, f"script-{index:03d}-{Path(script.name).name}"):
            log.info("cloud-init: %s already ran for instance %s", name, instance_id or "(none)")
            continue
        script_dir.mkdir(parents=True, exist_ok=True)
        path = script_dir / f"{index:03d}-{Path(script.name).name}"
        write_atomic(path, script.content, 0o700)
        if not _run([str(path)], name, target.root):
            failed += 1
    return failed


def run_commands(commands: Any, instance_id: str, target: Target) -> int:
    """runcmd: strings through /bin/sh -c, lists as argv; once per instance id."""
    if not commands or not once(target, instance_id, "runcmd"):
        return 0
    failed = 0
    for index, cmd in enumerate(commands):
        argv = ["/bin/sh", "-c", cmd] if isinstance(cmd, str) else [str(a) for a in cmd or []]
        name = f"runcmd[{index}] {cmd if isinstance(cmd, str) else shlex.join(argv)}"
        if not argv or not _run(argv, name, target.root):
            failed += 1
    return failed


def mount_all(mounts: Any) -> int:
    """cloud-config `mounts`: [device, mountpoint, fstype, options] each."""
    failed = 0
    for entry in mounts or []:
        if not isinstance(entry, list) or len(entry) < 2:
            log.error("cloud-init: mounts entry %r: expected [device, mountpoint, fstype, options]", entry)
            failed += 1
            continue
        device, point = str(entry[0]), str(entry[1])
        argv = ["mount"]
        if len(entry) > 2 and entry[2] and entry[2] != "auto":
            argv += ["-t", str(entry[2])]
        if len(entry) > 3 and entry[3] and entry[3] != "defaults":
            argv += ["-o", str(entry[3])]
        Path(point).mkdir(parents=True, exist_ok=True)
        if not _run(argv + [device, point], f"mount {device} {point}", Path("/")):
            failed += 1
    return failed
