"""The Compose service fields RancherOS accepts, declared once.

Each field says its JSON Schema (what may be written), how the value is normalised, which Docker API
argument it becomes and what it is for. The config schema (config/schema.py), the service parser, the
`Service` dataclass and the create arguments (sysdocker/service.py) are all derived from this table.
Pure: no Docker, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from rancheros.config.shapes import BOOL, INT, LIST_OR_MAP, SCALAR, STR, STR_LIST, STR_OR_INT, STR_OR_LIST
from rancheros.errors import ServiceError


NAMESPACE_MODES = ("pid", "ipc", "uts")
RESTART_POLICIES = ("no", "always", "unless-stopped", "on-failure")

Normalise = Callable[[Any, str], Any]   # (value as written, "service NAME: KEY") -> the model's value


@dataclass(frozen=True)
class Field:
    """One Compose key: its schema, its model type and default, its Docker API argument, its help."""

    name: str
    schema: dict
    help: str
    type: str = "str | None"              # the dataclass annotation of the normalised value
    default: Any = None                   # [] and {} become per-instance factories
    normalise: Normalise | None = None
    api: str | None = None                # "container.ARG" (create_container) or "host.ARG" (create_host_config)
    to_api: Callable[[Any], Any] | None = None   # the normalised value as that argument wants it
    alias_of: str | None = None           # another name for that field (Compose v1's `net`)
    ignored: bool = False                 # accepted for compatibility, without effect on a system container


def _where(where: str, key: str) -> str:
    return f"{where}.{key}" if key else where


def _scalars(value: dict, where: str) -> dict[str, str]:
    out = {}
    for k, v in value.items():
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif v is None:
            v = ""
        elif not isinstance(v, (str, int, float)):
            raise ServiceError(f"{where}.{k} must be a scalar, got {type(v).__name__}")
        out[str(k)] = str(v)
    return out


def key_values(value: Any, where: str) -> dict[str, str]:
    """A list of KEY=VALUE strings (KEY alone: empty) or a map of scalars, as a str->str map."""
    if isinstance(value, dict):
        return _scalars(value, where)
    out: dict[str, str] = {}
    for item in value:
        if not isinstance(item, str):
            raise ServiceError(f"{where} entry {item!r} must be a string KEY=VALUE")
        key, sep, val = item.partition("=")
        out[key] = val if sep else ""
    return out


def _as_list(value: Any, where: str) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _tmpfs(value: Any, where: str) -> dict[str, str]:
    if isinstance(value, dict):
        return _scalars(value, where)
    return {t.split(":", 1)[0]: (t.split(":", 1)[1] if ":" in t else "") for t in _as_list(value, where)}


def _ulimits(value: dict, where: str) -> dict[str, dict[str, int]]:
    out = {}
    for name, val in value.items():
        if isinstance(val, int) and not isinstance(val, bool):
            out[name] = {"soft": val, "hard": val}
        elif isinstance(val, dict) and {"soft", "hard"} <= set(val):
            out[name] = {"soft": int(val["soft"]), "hard": int(val["hard"])}
        else:
            raise ServiceError(f"{where}.{name} must be an int or {{soft, hard}}")
    return out


def _names(value: Any, where: str) -> list[str]:
    return [str(d) for d in value]     # a depends_on map's keys are the names


def _hosts(value: Any, where: str) -> list[str]:
    return [f"{h}:{ip}" for h, ip in value.items()] if isinstance(value, dict) else list(value)


def _restart(value: str, where: str) -> str:
    if value.split(":")[0] not in RESTART_POLICIES:
        raise ServiceError(f"{where} {value!r} is not one of {', '.join(RESTART_POLICIES)} (on-failure may carry :N)")
    return value


def _namespace(value: str, where: str) -> str:
    if value != "host" and not value.startswith("container:"):
        raise ServiceError(f"{where} must be 'host' or 'container:NAME', got {value!r}")
    return value


def _opts(value: dict, where: str) -> dict[str, str]:
    return _scalars(value, where)


def restart_policy(value: str) -> dict | None:
    """`on-failure:3` as Docker's RestartPolicy; None for `no`."""
    if value in ("", "no"):
        return None
    policy, _, count = value.partition(":")
    return {"Name": policy, **({"MaximumRetryCount": int(count)} if count else {})}


def _ulimits_api(value: dict[str, dict[str, int]]) -> list[dict]:
    return [{"Name": k, "Soft": v["soft"], "Hard": v["hard"]} for k, v in value.items()]


def _list_field(name: str, help: str, api: str | None = None, schema: dict = STR_LIST,
                normalise: Normalise | None = None) -> Field:
    return Field(name, schema, help, type="list[str]", default=[], normalise=normalise, api=api)


def _flag(name: str, help: str, api: str) -> Field:
    return Field(name, BOOL, help, type="bool", default=False, api=api)


FIELDS: tuple[Field, ...] = (
    Field("image", STR, "the image to run (required)", type="str", api="container.image"),
    Field("command", STR_OR_LIST, "the command, replacing the image's CMD", type="list[str] | str | None",
          api="container.command"),
    Field("entrypoint", STR_OR_LIST, "replaces the image's ENTRYPOINT", type="list[str] | str | None",
          api="container.entrypoint"),
    Field("environment", LIST_OR_MAP, "KEY=VALUE list or map", type="dict[str, str]", default={},
          normalise=key_values, api="container.environment"),
    Field("labels", LIST_OR_MAP, "KEY=VALUE list or map; the io.rancher.os.* labels order and shape the service",
          type="dict[str, str]", default={}, normalise=key_values, api="container.labels"),
    _list_field("volumes", "HOST:CONTAINER[:MODE] binds, or CONTAINER paths for anonymous volumes",
                api="volumes"),
    _list_field("volumes_from", "services whose volumes it mounts (it starts after them)", "host.volumes_from"),
    Field("net", STR, "Compose v1's network_mode", alias_of="network_mode"),
    Field("network_mode", STR, "host, none, bridge or container:NAME", api="host.network_mode"),
    Field("pid", STR, "host or container:NAME", normalise=_namespace, api="host.pid_mode"),
    Field("ipc", STR, "host or container:NAME", normalise=_namespace, api="host.ipc_mode"),
    Field("uts", STR, "host or container:NAME", normalise=_namespace, api="host.uts_mode"),
    _flag("privileged", "every capability and device", "host.privileged"),
    _list_field("cap_add", "capabilities added", "host.cap_add"),
    _list_field("cap_drop", "capabilities dropped", "host.cap_drop"),
    _list_field("devices", "HOST[:CONTAINER[:PERMISSIONS]] devices", "host.devices"),
    Field("restart", STR, "no, always, unless-stopped or on-failure[:N]; Docker restarts with backoff",
          type="str", default="no", normalise=_restart, api="host.restart_policy", to_api=restart_policy),
    _flag("tty", "a terminal", "container.tty"),
    _flag("stdin_open", "stdin kept open", "container.stdin_open"),
    _flag("read_only", "a read-only root file system", "host.read_only"),
    Field("tmpfs", {"type": ["string", "array", "object"], "items": STR, "additionalProperties": SCALAR},
          "PATH[:OPTIONS] tmpfs mounts (string, list or map)", type="dict[str, str]", default={},
          normalise=_tmpfs, api="host.tmpfs"),
    Field("ulimits", {"type": "object", "additionalProperties": {"type": ["integer", "object"],
                                                                  "properties": {"soft": INT, "hard": INT}}},
          "NAME: N or {soft, hard}", type="dict[str, dict[str, int]]", default={}, normalise=_ulimits,
          api="host.ulimits", to_api=_ulimits_api),
    _list_field("security_opt", "seccomp=, apparmor=, label= options", "host.security_opt"),
    _list_field("depends_on", "services it starts after (list or map)", None,
                {"type": ["array", "object"], "items": STR}, _names),
    Field("working_dir", STR, "the working directory", api="container.working_dir"),
    Field("user", STR_OR_INT, "USER[:GROUP] or UID", type="str | int | None", api="container.user", to_api=str),
    Field("hostname", STR, "the container's host name", api="container.hostname"),
    Field("stop_signal", STR, "the signal `stop` sends first", api="container.stop_signal"),
    Field("shm_size", STR_OR_INT, "size of /dev/shm", type="str | int | None", api="host.shm_size"),
    _list_field("dns", "name servers", "host.dns", STR_OR_LIST, _as_list),
    _list_field("extra_hosts", "HOST:IP list or HOST: IP map for /etc/hosts", "host.extra_hosts",
                LIST_OR_MAP, _hosts),
    Field("domainname", STR, "the container's domain name", api="container.domainname"),
    _list_field("dns_search", "search domains", "host.dns_search", STR_OR_LIST, _as_list),
    Field("mem_limit", STR_OR_INT, "memory limit (bytes or 256m)", type="str | int | None", api="host.mem_limit"),
    Field("cpu_shares", INT, "relative CPU weight under contention (Docker's default 1024)",
          type="int | None", api="host.cpu_shares"),
    Field("log_driver", STR, "the logging driver (with log_opt)", api="host.log_config"),
    Field("log_opt", {"type": "object", "additionalProperties": SCALAR}, "the logging driver's options",
          type="dict[str, str]", default={}, normalise=_opts),
    Field("container_name", STR, "ignored: a system container is named after its service", ignored=True),
    Field("ports", {"type": "array", "items": {"type": ["string", "integer", "object"]}},
          "ignored: system services use the host network", ignored=True),
    Field("healthcheck", {"type": "object"}, "ignored", ignored=True),
    Field("logging", {"type": "object"}, "ignored: use log_driver and log_opt", ignored=True),
)

BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
MODEL: tuple[Field, ...] = tuple(f for f in FIELDS if not f.ignored and not f.alias_of)
SCHEMA: dict = {"type": "object", "properties": {f.name: f.schema for f in FIELDS}, "additionalProperties": False}
