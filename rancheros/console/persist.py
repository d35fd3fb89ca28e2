"""Persistent consoles (`rancher.console_persistent`): a console's own filesystem outlives switches.

With the option on, a console that is replaced (a switch, or another console configured at boot) is
stopped and kept as `console-kept-NAME` instead of removed; when NAME is the console again, that
container comes back if its definition and image are unchanged. Reboots keep the running console's
container in any case (its definition does not change). /home, /opt and the SSH keys are volumes:
they stay whatever the option says.
"""

from __future__ import annotations

import logging

from docker.errors import NotFound

from rancheros.console.choice import LABEL
from rancheros.sysdocker.catalog import DEFAULT_CONSOLE
from rancheros.sysdocker.service import LABEL_HASH

log = logging.getLogger(__name__)

KEPT_PREFIX = "console-kept-"


def enabled(doc: dict) -> bool:
    """The config's rancher.console_persistent (default off)."""
    value = (doc.get("rancher") or {}).get("console_persistent", False)
    return value is True or str(value).lower() == "true"


def console_of(labels: dict | None) -> str:
    """The console a container runs, from its labels."""
    return (labels or {}).get(LABEL) or DEFAULT_CONSOLE


def kept_name(console: str) -> str:
    return f"{KEPT_PREFIX}{console}"


def _remove(api, ref: str) -> None:
    try:
        api.remove_container(ref, force=True, v=False)
    except NotFound:
        pass


def retire(api, container: dict, doc: dict) -> None:
    """The console container `container` (inspect data) goes: kept under its console's name when the
    option is on, removed otherwise."""
    console = console_of(container["Config"].get("Labels"))
    if not enabled(doc):
        _remove(api, container["Id"])
        return
    name = kept_name(console)
    _remove(api, name)
    api.stop(container["Id"], timeout=10)
    api.rename(container["Id"], name)
    log.info("console %s: kept as %s (rancher.console_persistent)", console, name)


def revive(api, console: str, name: str, want_hash: str, image_id: str | None, doc: dict) -> str | None:
    """The kept container of `console`, renamed to `name`, when it matches the definition (hash, image);
    a kept container that does not match is removed. Returns its id, or None."""
    try:
        kept = api.inspect_container(kept_name(console))
    except NotFound:
        return None
    labels = kept["Config"].get("Labels") or {}
    if not enabled(doc) or labels.get(LABEL_HASH) != want_hash or (image_id and kept["Image"] != image_id):
        log.info("console %s: its kept container no longer matches the definition; removing it", console)
        _remove(api, kept["Id"])
        return None
    api.rename(kept["Id"], name)
    log.info("console %s: its kept container is back", console)
    return kept["Id"]


def drop_all(api) -> list[str]:
    """Remove every kept console (the option is off); returns their names."""
    gone = []
    for c in api.containers(all=True, filters={"name": KEPT_PREFIX}):
        name = c["Names"][0].lstrip("/")
        if name.startswith(KEPT_PREFIX):
            _remove(api, c["Id"])
            gone.append(name)
    return sorted(gone)
