"""resolv.conf from config and DHCP, written where every container reads it."""

import logging
from pathlib import Path

from rancheros.network.files import write_shared

log = logging.getLogger(__name__)
MAX_NAMESERVERS = 3  # glibc reads no more


def render(nameservers: list[str] | tuple[str, ...], search: list[str] | tuple[str, ...] = ()) -> str:
    """Configured servers first, duplicates dropped, at most the three the resolver uses."""
    seen: list[str] = []
    for ns in nameservers:
        if ns and ns not in seen:
            seen.append(ns)
    lines = ["# written by ros network: rancher.network.dns (and DHCP)"]
    if search:
        lines.append("search " + " ".join(dict.fromkeys(search)))
    lines += [f"nameserver {ns}" for ns in seen[:MAX_NAMESERVERS]]
    return "\n".join(lines) + "\n"


def write(root: Path, text: str) -> Path:
    """Write `<root>/etc/resolv.conf`; unchanged content is not rewritten."""
    path = Path(root) / "etc" / "resolv.conf"
    try:
        if path.read_text() == text:
            return path
    except OSError:
        pass
    write_shared(path, text, 0o644)
    log.info("resolv.conf: %s", ", ".join(l.split()[1] for l in text.splitlines() if l.startswith("nameserver")) or "no nameservers")
    return path
