"""Named checks a service's `io.rancher.os.condition` label asks for: false means it has nothing to do.

A container costs seconds to create and start on a slow machine; a service whose work is known to be
empty (cloud-init's network stage with no network datasource) is skipped instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from rancheros.errors import ServiceError

CMDLINE = Path("/proc/cmdline")


def network_datasource(doc: dict, cmdline: str) -> bool:
    """cloud-init's network stage has work: a configured datasource (or `cloud-config-url=`) needs the network."""
    from rancheros.cloudinit.datasources import for_stage
    from rancheros.config import get
    return bool(for_stage(get(doc, "rancher.cloud_init.datasources") or [], cmdline, network=True))


CONDITIONS: dict[str, Callable[[dict, str], bool]] = {
    "network-datasource": network_datasource,
}


def holds(name: str, doc: dict, cmdline: str | None = None) -> bool:
    """Whether condition `name` is true for this config and kernel command line (read when not given)."""
    check = CONDITIONS.get(name)
    if check is None:
        raise ServiceError(f"unknown io.rancher.os.condition {name!r} (known: {', '.join(sorted(CONDITIONS))})")
    if cmdline is None:
        try:
            cmdline = CMDLINE.read_text()
        except OSError:
            cmdline = ""
    return check(doc, cmdline)
