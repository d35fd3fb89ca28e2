"""The hostname from config: the kernel's (UTS of the host) and /etc/hostname."""

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


def apply(name: str, root: Path, sethostname: Callable[[str], None] = socket.sethostname) -> None:
    """Set the kernel hostname and write `<root>/etc/hostname`."""
    name = check(name)
    sethostname(name)
    path = Path(root) / "etc" / "hostname"
    try:
        current = path.read_text()
    except OSError:
        current = None
    if current != name + "\n":
        write_shared(path, name + "\n", 0o644)
    log.info("hostname: %s", name)
