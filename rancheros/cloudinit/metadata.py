"""Meta-data from each datasource's layout, normalised to one dataclass."""

import json
from dataclasses import dataclass, field
from typing import Any

from rancheros.config.yamlio import parse_yaml
from rancheros.errors import ConfigError

MAX_KEY_DEPTH = 8  # how deep public keys may be nested in a datasource's maps and lists


@dataclass
class MetaData:
    """The three facts cloud-init takes from meta-data."""

    instance_id: str = ""
    hostname: str = ""
    public_keys: list[str] = field(default_factory=list)


def _keys(value: Any, depth: int = 0) -> list[str]:
    """Public keys as a list, whatever shape the datasource used (str, list, map; nested at most MAX_KEY_DEPTH)."""
    if not value or depth > MAX_KEY_DEPTH:
        return []
    if isinstance(value, str):
        return [line.strip() for line in value.splitlines() if line.strip()]
    if isinstance(value, dict):
        return [k for v in value.values() for k in _keys(v, depth + 1)]
    if isinstance(value, list):
        return [k for v in value for k in _keys(v, depth + 1)]
    return []


def from_openstack(text: str | bytes) -> MetaData:
    """OpenStack config drive `meta_data.json` (uuid, hostname, public_keys)."""
    try:
        data = json.loads(text or b"{}")
    except ValueError as e:
        raise ConfigError(f"meta_data.json: invalid JSON: {e}") from None
    except RecursionError:
        raise ConfigError("meta_data.json: nested too deep to read; refused") from None
    if not isinstance(data, dict):
        raise ConfigError("meta_data.json: expected a JSON object")
    return MetaData(
        instance_id=str(data.get("uuid") or data.get("instance-id") or ""),
        hostname=str(data.get("hostname") or data.get("name") or ""),
        public_keys=_keys(data.get("public_keys")),
    )


def from_nocloud(text: str | bytes) -> MetaData:
    """NoCloud `meta-data` YAML (instance-id, local-hostname, public-keys)."""
    data = parse_yaml(text or b"", "meta-data") or {}
    if not isinstance(data, dict):
        raise ConfigError("meta-data: expected a YAML mapping")
    return MetaData(
        instance_id=str(data.get("instance-id") or data.get("instance_id") or ""),
        hostname=str(data.get("local-hostname") or data.get("hostname") or ""),
        public_keys=_keys(data.get("public-keys") or data.get("public_keys")),
    )
