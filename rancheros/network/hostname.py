"""The hostname from config: the kernel's (UTS of the host), /etc/hostname and its /etc/hosts line."""

import logging
import re
import socket
from pathlib import Path
from typing import Callable

from rancheros.errors import ConfigError
from rancheros.network.files import write_shared

log = logging.getLogger(__name__)
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def check(name: str) -> str:
    """A hostname is dot-separated labels of letters, digits and inner hyphens, 253 chars at most."""
    name = str(name).strip()
    if not name or len(name) > 253 or not all(_LABEL.match(p) for p in name.split(".")):
        raise ConfigError(f"hostname: {name!r} is not a valid host name (letters, digits, '-', '.')")
    return name


def hosts_text(current: str, name: str) -> str:
    """`current` /etc/hosts with the hostname on 127.0.1.1 (Debian's convention), other lines kept,
    so that sudo and other resolvers of the own name find it without DNS."""
    short = name.split(".")[0]
    line = f"127.0.1.1\t{name}" + (f" {short}" if short != name else "")
    lines = [l for l in current.splitlines() if l.split()[:1] != ["127.0.1.1"]]
    if not any(l.split()[:1] == ["127.0.0.1"] for l in lines):
        lines.insert(0, "127.0.0.1\tlocalhost")
    at = next(i for i, l in enumerate(lines) if l.split()[:1] == ["127.0.0.1"]) + 1
    lines.insert(at, line)
    return "\n".join(lines) + "\n"


def _write_if_changed(path: Path, text: str) -> None:
    try:
        current = path.read_text()
    except OSError:
        current = None
    if current != text:
        write_shared(path, text, 0o644)


def apply(name: str, root: Path, sethostname: Callable[[str], None] = socket.sethostname) -> None:
    """Set the kernel hostname, write `<root>/etc/hostname` and the name's line in `<root>/etc/hosts`."""
    name = check(name)
    sethostname(name)
    etc = Path(root) / "etc"
    _write_if_changed(etc / "hostname", name + "\n")
    try:
        hosts = (etc / "hosts").read_text()
    except OSError:
        hosts = ""
    _write_if_changed(etc / "hosts", hosts_text(hosts, name))
    log.info("hostname: %s", name)
