"""The JSON Schema of the config document and its checks.

`validate` uses jsonschema (imported lazily: `ros config get` must start fast);
`without_type_errors` is the cheap type-only walk over the same schema that the
loader uses to drop a layer's wrongly typed values at boot, naming each.
"""

from dataclasses import dataclass
from typing import Any

from rancheros.config.shapes import BOOL, INT, LIST_OR_MAP, SCALAR, STR, STR_LIST, STR_OR_LIST
from rancheros.config.compose import SCHEMA as SERVICE_SCHEMA  # the Compose fields, declared in compose.py


def _obj(props: dict, extra: bool = False) -> dict:
    """An object whose known keys are typed; unknown keys are warnings unless `extra`."""
    return {"type": "object", "properties": props, "additionalProperties": extra}


def _map_of(schema: dict) -> dict:
    return {"type": "object", "additionalProperties": schema}


RANCHER_SCHEMA: dict = _obj({
    "debug": BOOL,
    "log": BOOL,
    "environment": LIST_OR_MAP,
    "hostname": STR,
    "password": STR,
    "state": _obj({
        "dev": STR, "fstype": STR, "autoformat": STR_LIST, "wait": BOOL,
        "required": BOOL, "mdadm_scan": BOOL, "directory": STR, "script": STR,
        "oem_dev": STR, "oem_fstype": STR, "rngd": BOOL,
    }),
    "modules": STR_LIST,
    "image": STR,
    "system_docker": _obj({
        "socket": STR, "data_root": STR, "exec_root": STR, "pidfile": STR,
        "storage_driver": STR, "bridge": STR, "iptables": BOOL, "log_level": STR,
        "preload_dir": STR, "args": STR_LIST, "extra_args": STR_LIST,
        "environment": LIST_OR_MAP, "debug": BOOL, "registry": STR,
        "registry_mirror": STR_OR_LIST, "insecure_registry": STR_LIST,
    }),
    "docker": _obj({
        "tls": BOOL, "tls_args": STR_LIST, "server_cert": STR, "server_key": STR,
        "ca_cert": STR, "ca_key": STR, "host": STR_OR_LIST, "storage_driver": STR,
        "args": STR_LIST, "extra_args": STR_LIST, "registry_mirror": STR_OR_LIST,
        "insecure_registry": STR_LIST, "log_opts": _map_of(SCALAR),
        "environment": LIST_OR_MAP, "engine": STR, "group": STR, "bridge": STR,
        "bip": STR, "mtu": INT, "userland_proxy": BOOL, "debug": BOOL,
        "data_root": STR, "log_driver": STR,
    }),
    "network": _obj({
        "dns": _obj({"nameservers": STR_LIST, "search": STR_LIST, "override": BOOL}),
        "interfaces": _map_of(_obj({
            "dhcp": BOOL, "address": STR, "addresses": STR_LIST, "gateway": STR,
            "gateway_ipv6": STR, "mtu": INT, "match": STR, "bridge": {"type": ["string", "boolean"]},
            "bond": STR, "bond_opts": _map_of(SCALAR), "vlans": STR, "dhcp_args": STR,
            "ipv4ll": BOOL, "post_up": STR_LIST, "pre_up": STR_LIST,
        })),
        "ntp": _obj({"servers": STR_LIST}),
        "http_proxy": STR, "https_proxy": STR, "no_proxy": STR,
        "pre_cmds": STR_LIST, "post_cmds": STR_LIST,
    }),
    "ssh": _obj({
        "keys": _map_of(STR), "port": INT, "listen_address": STR, "daemon": BOOL,
    }),
    "console": STR,
    "console_persistent": BOOL,
    "cloud_init": _obj({"datasources": STR_LIST}),
    "services_include": _map_of(BOOL),
    "repositories": _map_of(_obj({"url": STR})),
    "upgrade": _obj({"url": STR, "image": STR, "policy": STR}),
    "shutdown_timeout": INT,
    "services": _map_of(SERVICE_SCHEMA),
    "bootstrap": _map_of(SERVICE_SCHEMA),
    "autoformat": _map_of(SERVICE_SCHEMA),
    "sysctl": _map_of(SCALAR),
    "restart_services": STR_LIST,
    "defaults": {"type": "object"},
    "resize_device": STR,
    "disable": STR_LIST,
})

WRITE_FILE = _obj({"path": STR, "content": STR, "permissions": STR, "owner": STR,
                   "encoding": STR, "append": BOOL}, extra=True)

SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "RancherOS config (cloud-config compatible)",
    "type": "object",
    "properties": {
        "rancher": RANCHER_SCHEMA,
        "hostname": STR,
        "ssh_authorized_keys": STR_LIST,
        "write_files": {"type": "array", "items": WRITE_FILE},
        "runcmd": {"type": "array", "items": {"type": ["string", "array"], "items": STR}},
        "bootcmd": {"type": "array", "items": {"type": ["string", "array"], "items": STR}},
        "mounts": {"type": "array", "items": {"type": "array", "items": STR}},
    },
    "additionalProperties": True,  # other cloud-config keys are not ours to judge
}

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "boolean": (bool,), "object": (dict,), "array": (list,),
    "null": (type(None),), "integer": (int,), "number": (int, float),
}


@dataclass(frozen=True)
class Problem:
    """One finding of `validate`: the dotted key path, what is wrong, error or warning."""

    path: str
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        return f"{self.severity}: {self.path or '<document>'}: {self.message}"


def _is_type(value: Any, name: str) -> bool:
    if isinstance(value, bool) and name in ("integer", "number"):
        return False
    return isinstance(value, _JSON_TYPES[name])


def _types(schema: dict) -> list[str]:
    t = schema.get("type", [])
    return [t] if isinstance(t, str) else list(t)


def describe(value: Any) -> str:
    """What a YAML value is, for a message: 'a map', 'a list', or the scalar's repr (at most 80 characters)."""
    if isinstance(value, (dict, list)):
        return "a map" if isinstance(value, dict) else "a list"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


_DROPPED = object()


def without_type_errors(doc: Any, schema: dict = SCHEMA, path: str = "") -> tuple[Any, list[Problem]]:
    """`doc` without its wrongly typed values (a list loses the bad item), and what was dropped:
    one bad value must not cost a whole layer (the SSH keys beside it)."""
    types = _types(schema)
    if types and not any(_is_type(doc, t) for t in types):
        return _DROPPED, [Problem(path, f"expected {' or '.join(types)}, got {describe(doc)}")]
    out: list[Problem] = []
    if isinstance(doc, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        kept = {}
        for k, v in doc.items():
            sub = props.get(k, extra if isinstance(extra, dict) else None)
            if sub is not None:
                v, found = without_type_errors(v, sub, f"{path}.{k}" if path else str(k))
                out += found
            if v is not _DROPPED:
                kept[k] = v
        return (kept if out else doc), out
    if isinstance(doc, list) and isinstance(schema.get("items"), dict):
        kept_items = []
        for i, v in enumerate(doc):
            v, found = without_type_errors(v, schema["items"], f"{path}[{i}]")
            out += found
            if v is not _DROPPED:
                kept_items.append(v)
        return (kept_items if out else doc), out
    return doc, out


def type_errors(doc: Any, schema: dict = SCHEMA, path: str = "") -> list[Problem]:
    """Wrong types only (no unknown-key warnings), without jsonschema; the same messages as `validate`."""
    return without_type_errors(doc, schema, path)[1]


def _path_of(error) -> str:
    out = ""
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validate(doc: Any) -> list[Problem]:
    """Every problem of a config document: wrong types are errors, unknown keys under `rancher` warnings."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(SCHEMA)
    problems: list[Problem] = []
    for err in validator.iter_errors(doc):
        path = _path_of(err)
        if err.validator == "additionalProperties":
            known = set(err.schema.get("properties", {}))
            for key in err.instance:
                if key not in known:
                    problems.append(Problem(f"{path}.{key}" if path else key, "unknown key", "warning"))
        elif err.validator == "type":
            types = _types(err.schema)
            problems.append(Problem(path, f"expected {' or '.join(types)}, got {describe(err.instance)}"))
        else:
            problems.append(Problem(path, err.message))
    return sorted(problems, key=lambda p: (p.severity != "error", p.path))


def schema_at(key: str, schema: dict = SCHEMA) -> dict | None:
    """The sub-schema of a dotted key (via properties/additionalProperties), or None when unknown."""
    from rancheros.config.keys import split_key

    node: dict | None = schema
    for part in split_key(key):
        if node is None:
            return None
        props = node.get("properties", {})
        extra = node.get("additionalProperties")
        node = props.get(part, extra if isinstance(extra, dict) else None)
    return node


def coerce_value(key: str, raw: str, value: Any) -> Any:
    """Keep the raw text where the schema wants only a string but YAML read a number/bool/null (`hostname 0123`)."""
    sub = schema_at(key)
    if sub is not None and _types(sub) == ["string"] and not isinstance(value, (str, list, dict)):
        return raw
    return value
