"""The hostname from config, applied before services start so every container sees it."""

from __future__ import annotations

import logging
from pathlib import Path

from rancheros.errors import RosError

log = logging.getLogger(__name__)


def name_from_config(doc: dict) -> str | None:
    """Top-level cloud-config `hostname` wins over `rancher.hostname` (pure)."""
    return (doc or {}).get("hostname") or ((doc or {}).get("rancher") or {}).get("hostname") or None


def apply(doc: dict, root: Path = Path("/")) -> None:
    """Set it; a bad name is one console line, never a boot failure."""
    from rancheros.network import hostname as net_hostname

    name = name_from_config(doc)
    if not name:
        return
    try:
        net_hostname.apply(str(name), root)
    except (RosError, OSError) as e:
        log.error("hostname not set: %s", e)
