"""GRUB's environment block (grubenv): which slot boots, which one is tried once, what a trial left.

GRUB reads it with load_env and clears `next_slot` with save_env before a trial boot; Linux writes it
whole (a 1024-byte file, replaced atomically). Keys:
  boot_slot   the slot that boots by default (A or B)
  next_slot   the slot to try once (set by an upgrade or a rollback)
  tried_slot, tried_version   the last trial, until it is marked good (then cleared)
  tried_reason                why a trial did not reach "services up", when that boot could say it
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

SIZE = 1024
HEADER = "# GRUB Environment Block\n"


class EnvError(ValueError):
    """A grubenv that is not one."""


def parse(raw: bytes) -> dict[str, str]:
    """The variables of a grubenv block (GRUB's escapes undone)."""
    text = raw.decode("utf-8", "replace")
    if not text.startswith(HEADER):
        raise EnvError("not a GRUB environment block (no header)")
    values: dict[str, str] = {}
    for line in text[len(HEADER):].split("\n"):
        if not line or line.startswith("#"):
            continue
        key, eq, value = line.partition("=")
        if eq:
            values[key] = value.replace("\\\\", "\\")
    return values


def render(values: dict[str, str]) -> bytes:
    """A 1024-byte block holding `values` (EnvError if they do not fit or hold a newline)."""
    body = HEADER
    for key, value in values.items():
        if "\n" in key + value or "=" in key or not key:
            raise EnvError(f"grubenv: {key!r}={value!r} cannot be stored")
        body += f"{key}={value.replace(chr(92), chr(92) * 2)}\n"
    raw = body.encode()
    if len(raw) > SIZE:
        raise EnvError(f"grubenv: {len(raw)} bytes of variables do not fit {SIZE}")
    return raw + b"#" * (SIZE - len(raw))


@dataclass
class BootEnv:
    """The variables as data, with the rules that move between slots (pure)."""

    values: dict[str, str] = field(default_factory=dict)

    @property
    def boot_slot(self) -> str:
        return self.values.get("boot_slot") or "A"

    @property
    def next_slot(self) -> str:
        return self.values.get("next_slot", "")

    def try_once(self, slot: str, version: str) -> None:
        """The next boot tries `slot`; boot_slot stays until that boot says it is good."""
        self.values.update(next_slot=slot, tried_slot=slot, tried_version=version, tried_reason="")

    def mark_good(self, slot: str) -> None:
        """`slot` reached "services up": it boots from now on."""
        self.values["boot_slot"] = slot
        for k in ("next_slot", "tried_slot", "tried_version", "tried_reason"):
            self.values.pop(k, None)

    def rolled_back(self, running: str) -> str | None:
        """Why the last trial is over without being marked good, seen from a boot of `running`, or None."""
        tried = self.values.get("tried_slot")
        if not tried or tried == running or self.next_slot:
            return None
        version = self.values.get("tried_version") or "?"
        reason = self.values.get("tried_reason") or "that boot did not reach services up (kernel panic, " \
                                                    "init error, or power lost)"
        return f"the upgrade to {version} (slot {tried}) was rolled back: {reason}"


def read(path: str) -> BootEnv:
    """The env at `path`; an absent file is the default (slot A)."""
    try:
        with open(path, "rb") as f:
            return BootEnv(parse(f.read()))
    except FileNotFoundError:
        return BootEnv()


def write(path: str, env: BootEnv) -> None:
    """Replace `path` atomically (GRUB finds the new file's blocks on the next boot)."""
    raw = render(env.values)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(raw)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dfd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
