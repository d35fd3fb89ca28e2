"""The flat keys of the early RancherOS config, read as aliases of their `rancher.*` keys.

Each layer is normalised on its own, before merging, so an alias keeps its
layer's precedence; an explicit `rancher.*` key in the same layer wins.
"""

import logging
from typing import Any, Callable

from rancheros.config.merge import deep_merge

log = logging.getLogger(__name__)

_USERDOCKER_KEYS = {"use_tls": "tls", "tls_server_cert": "server_cert",
                    "tls_server_key": "server_key", "tls_ca_cert": "ca_cert"}


def _userdocker(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    return {_USERDOCKER_KEYS.get(k, k): v for k, v in value.items()}


def _addons(value: Any) -> Any:
    if isinstance(value, list):
        return {str(name): True for name in value}
    return value


# flat key -> (path under rancher, value translation)
ALIASES: dict[str, tuple[tuple[str, ...], Callable[[Any], Any]]] = {
    "dns": (("network", "dns", "nameservers"), lambda v: v),
    "state": (("state",), lambda v: v),
    "userdocker": (("docker",), _userdocker),
    "system_docker_args": (("system_docker", "args"), lambda v: v),
    "cloud_init": (("cloud_init",), lambda v: v),
    "ssh": (("ssh",), lambda v: v),
    "enabledAddons": (("services_include",), _addons),
}

_warned: set[str] = set()


def _nest(path: tuple[str, ...], value: Any) -> dict:
    for part in reversed(path):
        value = {part: value}
    return value


def normalize(doc: dict, source: str = "") -> dict:
    """A new dict with the flat alias keys moved under `rancher`; one deprecation note per key and process."""
    found = [k for k in ALIASES if k in doc]
    if not found:
        return doc
    out = {k: v for k, v in doc.items() if k not in ALIASES}
    moved: dict = {}
    for key in found:
        path, translate = ALIASES[key]
        moved = deep_merge(moved, _nest(path, translate(doc[key])))
        if key not in _warned:
            _warned.add(key)
            where = f" (in {source})" if source else ""
            log.warning("config key %r is deprecated, use rancher.%s%s", key, ".".join(path), where)
    rancher = out.get("rancher")
    out["rancher"] = deep_merge(moved, rancher) if isinstance(rancher, dict) else moved if rancher is None else rancher
    return out
