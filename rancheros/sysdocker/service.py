"""The Compose-subset service model: one definition -> one container's create arguments.

Pure code: parsing, the definition hash and the mapping to Docker API arguments
are testable without a daemon.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field

from rancheros.errors import ServiceError

log = logging.getLogger(__name__)

LABEL_SCOPE = "io.rancher.os.scope"
LABEL_AFTER = "io.rancher.os.after"
LABEL_BEFORE = "io.rancher.os.before"
LABEL_DETACH = "io.rancher.os.detach"
LABEL_CREATEONLY = "io.rancher.os.createonly"
LABEL_RELOAD = "io.rancher.os.reloadconfig"
LABEL_CONDITION = "io.rancher.os.condition"  # a named check (sysdocker.conditions); false: skipped
LABEL_SERVICE = "io.rancher.os.service"  # set by the engine: which service a container is
LABEL_CONFIG = "io.rancher.os.config"  # config keys the service reads when it starts, comma-separated
LABEL_CONFIG_HASH = "io.rancher.os.config-hash"  # set by the engine: hash of those keys' values
LABEL_HASH = "io.rancher.os.hash"  # set by the engine: hash of the definition it was created from
# "true": the service says when it is ready (it creates the file named by $ROS_READY_FILE); its
# dependants start then, not when its container starts. The console is ready once sshd answers.
LABEL_READY = "io.rancher.os.ready"
READY_ENV = "ROS_READY_FILE"
# "true": the way in or the users' workloads depend on it (console, network, user Docker): each exit that
# Docker restarts is one console line from the boot manager.
LABEL_ESSENTIAL = "io.rancher.os.essential"
READY_DIR = "/run/rancheros/ready"  # on the shared /run: one file per service, gone at every boot

NAMESPACE_MODES = ("pid", "ipc", "uts")
RESTART_POLICIES = ("no", "always", "unless-stopped", "on-failure")

# Compose keys we accept, each with the Python type(s) it may have.
_KEYS: dict[str, tuple[type, ...]] = {
    "image": (str,), "command": (str, list), "entrypoint": (str, list),
    "environment": (dict, list), "labels": (dict, list), "volumes": (list,),
    "volumes_from": (list,), "net": (str,), "network_mode": (str,), "pid": (str,),
    "ipc": (str,), "uts": (str,), "privileged": (bool,), "cap_add": (list,), "cap_drop": (list,),
    "devices": (list,), "restart": (str,), "tty": (bool,), "stdin_open": (bool,),
    "read_only": (bool,), "tmpfs": (list, dict, str), "ulimits": (dict,), "security_opt": (list,),
    "depends_on": (list, dict), "working_dir": (str,), "user": (str, int), "hostname": (str,),
    "stop_signal": (str,), "shm_size": (str, int), "dns": (list, str), "extra_hosts": (list, dict),
    "domainname": (str,), "dns_search": (list, str), "mem_limit": (str, int), "log_driver": (str,),
    "log_opt": (dict,), "cpu_shares": (int,),
}
# Accepted for Compose compatibility, without effect on a system container (named after its service,
# mostly on the host network): logged once per parse.
_IGNORED = ("container_name", "ports", "healthcheck", "logging")


def _csv(value: str | None) -> list[str]:
    return [p.strip() for p in (value or "").split(",") if p.strip()]


def _kv_list_to_dict(items: list, what: str, service: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        if not isinstance(item, str):
            raise ServiceError(f"service {service}: {what} entry {item!r} must be a string KEY=VALUE")
        key, sep, value = item.partition("=")
        out[key] = value if sep else ""
    return out


def _stringify(d: dict, what: str, service: str) -> dict[str, str]:
    out = {}
    for k, v in d.items():
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif v is None:
            v = ""
        elif not isinstance(v, (str, int, float)):
            raise ServiceError(f"service {service}: {what}.{k} must be a scalar, got {type(v).__name__}")
        out[str(k)] = str(v)
    return out


@dataclass
class Service:
    """One service definition, normalised (labels and environment as str->str maps)."""

    name: str
    image: str
    command: list[str] | str | None = None
    entrypoint: list[str] | str | None = None
    environment: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    volumes: list[str] = field(default_factory=list)
    volumes_from: list[str] = field(default_factory=list)
    network_mode: str | None = None
    pid: str | None = None
    ipc: str | None = None
    uts: str | None = None
    privileged: bool = False
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    restart: str = "no"
    tty: bool = False
    stdin_open: bool = False
    read_only: bool = False
    tmpfs: dict[str, str] = field(default_factory=dict)
    ulimits: dict[str, dict[str, int]] = field(default_factory=dict)
    security_opt: list[str] = field(default_factory=list)
    depends_on: list[str] = field(default_factory=list)
    working_dir: str | None = None
    user: str | None = None
    hostname: str | None = None
    stop_signal: str | None = None
    shm_size: str | int | None = None
    dns: list[str] = field(default_factory=list)
    extra_hosts: list[str] = field(default_factory=list)
    domainname: str | None = None
    dns_search: list[str] = field(default_factory=list)
    mem_limit: str | int | None = None
    cpu_shares: int | None = None   # relative CPU weight under contention (Docker's default 1024)
    log_driver: str | None = None
    log_opt: dict[str, str] = field(default_factory=dict)

    # --- RancherOS labels -------------------------------------------------
    @property
    def after(self) -> list[str]:
        return _csv(self.labels.get(LABEL_AFTER))

    @property
    def before(self) -> list[str]:
        return _csv(self.labels.get(LABEL_BEFORE))

    @property
    def detach(self) -> bool:
        """False for one-shots, which are waited for before their dependants start."""
        return self.labels.get(LABEL_DETACH, "true").lower() != "false"

    @property
    def createonly(self) -> bool:
        return self.labels.get(LABEL_CREATEONLY, "false").lower() == "true"

    @property
    def reloadconfig(self) -> bool:
        return self.labels.get(LABEL_RELOAD, "false").lower() == "true"

    @property
    def ready_file(self) -> str | None:
        """Where a service that reports readiness says it is ready; None: ready when started."""
        if self.labels.get(LABEL_READY, "false").lower() != "true":
            return None
        return f"{READY_DIR}/{self.name}"

    @property
    def condition(self) -> str | None:
        return self.labels.get(LABEL_CONDITION) or None

    @property
    def requires(self) -> list[str]:
        """Services this one starts after: after-labels, depends_on and volumes_from."""
        seen: dict[str, None] = {}
        for dep in [*self.after, *self.depends_on, *(v.split(":")[0] for v in self.volumes_from)]:
            if dep != self.name:
                seen[dep] = None
        return list(seen)

    def bind_config(self, doc: dict) -> None:
        """Fold the values of the config keys it reads into its labels, so a change of them recreates it."""
        keys = _csv(self.labels.get(LABEL_CONFIG))
        if keys:
            from rancheros.config import get
            values = json.dumps([get(doc, k) for k in keys], sort_keys=True, default=str)
            self.labels[LABEL_CONFIG_HASH] = hashlib.sha256(values.encode()).hexdigest()[:16]

    def definition_hash(self) -> str:
        """Stable hash of the whole definition: a change of any field recreates the container."""
        data = json.dumps(self.__dict__, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(data.encode()).hexdigest()[:32]


def parse_service(name: str, spec: dict) -> Service:
    """Validate and normalise one Compose-subset definition; ServiceError names the bad key."""
    if not isinstance(spec, dict):
        raise ServiceError(f"service {name}: definition must be a mapping, got {type(spec).__name__}")
    ignored = sorted(k for k in spec if k in _IGNORED)
    if ignored:
        log.warning("service %s: ignoring %s", name, ", ".join(ignored))
        spec = {k: v for k, v in spec.items() if k not in _IGNORED}
    unknown = sorted(k for k in spec if k not in _KEYS)
    if unknown:
        raise ServiceError(f"service {name}: unsupported key(s) {', '.join(unknown)} "
                           f"(supported: {', '.join(sorted(_KEYS))})")
    for key, value in spec.items():
        if value is not None and not isinstance(value, _KEYS[key]):
            wanted = " or ".join(t.__name__ for t in _KEYS[key])
            raise ServiceError(f"service {name}: {key} must be {wanted}, got {type(value).__name__} {value!r}")
    if not spec.get("image"):
        raise ServiceError(f"service {name}: image is required")
    s = {k: v for k, v in spec.items() if v is not None}
    labels = s.pop("labels", {})
    labels = _kv_list_to_dict(labels, "labels", name) if isinstance(labels, list) else _stringify(labels, "labels", name)
    env = s.pop("environment", {})
    env = _kv_list_to_dict(env, "environment", name) if isinstance(env, list) else _stringify(env, "environment", name)
    net = s.pop("network_mode", None) or s.pop("net", None)
    s.pop("net", None)
    tmpfs = s.pop("tmpfs", {})
    if isinstance(tmpfs, str):
        tmpfs = [tmpfs]
    if isinstance(tmpfs, list):
        tmpfs = {t.split(":", 1)[0]: (t.split(":", 1)[1] if ":" in t else "") for t in tmpfs}
    deps = s.pop("depends_on", [])
    deps = list(deps) if isinstance(deps, (list, dict)) else []
    dns = s.pop("dns", [])
    if "log_opt" in s:
        s["log_opt"] = _stringify(s["log_opt"], "log_opt", name)
    dns_search = s.pop("dns_search", [])
    hosts = s.pop("extra_hosts", [])
    if isinstance(hosts, dict):
        hosts = [f"{h}:{ip}" for h, ip in hosts.items()]
    restart = s.get("restart", "no")
    if restart.split(":")[0] not in RESTART_POLICIES:
        raise ServiceError(f"service {name}: restart {restart!r} is not one of {', '.join(RESTART_POLICIES)}"
                           " (on-failure may carry :N)")
    for key in NAMESPACE_MODES:
        if key in s and s[key] != "host" and not s[key].startswith("container:"):
            raise ServiceError(f"service {name}: {key} must be 'host' or 'container:NAME', got {s[key]!r}")
    ulimits = s.pop("ulimits", {})
    norm_ulimits = {}
    for uname, val in ulimits.items():
        if isinstance(val, int):
            norm_ulimits[uname] = {"soft": val, "hard": val}
        elif isinstance(val, dict) and {"soft", "hard"} <= set(val):
            norm_ulimits[uname] = {"soft": int(val["soft"]), "hard": int(val["hard"])}
        else:
            raise ServiceError(f"service {name}: ulimits.{uname} must be an int or {{soft, hard}}")
    return Service(name=name, labels=labels, environment=env, network_mode=net, tmpfs=tmpfs,
                   depends_on=[str(d) for d in deps], dns=[dns] if isinstance(dns, str) else dns,
                   dns_search=[dns_search] if isinstance(dns_search, str) else dns_search, extra_hosts=hosts,
                   ulimits=norm_ulimits, **s)


def parse_services(specs: dict) -> tuple[dict[str, Service], dict[str, str]]:
    """Parse every definition; returns (services, {name: error}) so one bad service never hides the others."""
    services: dict[str, Service] = {}
    errors: dict[str, str] = {}
    for name, spec in (specs or {}).items():
        try:
            services[name] = parse_service(str(name), spec)
        except ServiceError as e:
            errors[str(name)] = str(e)
    return services, errors


def _restart_policy(value: str) -> dict | None:
    if value in ("", "no"):
        return None
    policy, _, count = value.partition(":")
    out: dict = {"Name": policy}
    if count:
        out["MaximumRetryCount"] = int(count)
    return out


def _split_volumes(volumes: list[str]) -> tuple[list[str], list[str]]:
    """(binds for HostConfig, container paths that need a volume) from Compose `volumes` entries."""
    binds, paths = [], []
    for v in volumes:
        parts = v.split(":")
        if len(parts) == 1:
            paths.append(parts[0])  # anonymous volume
        else:
            binds.append(v)
            paths.append(parts[1])
    return binds, paths


@dataclass
class CreateArgs:
    """Arguments for APIClient.create_host_config(**host) and APIClient.create_container(**container)."""

    container: dict
    host: dict


def create_args(svc: Service, extra_labels: dict[str, str] | None = None) -> CreateArgs:
    """Map a Service to low-level Docker API create arguments (container named after the service)."""
    binds, paths = _split_volumes(svc.volumes)
    host: dict = {
        "binds": binds or None,
        "volumes_from": svc.volumes_from or None,
        "network_mode": svc.network_mode,
        "pid_mode": svc.pid,
        "ipc_mode": svc.ipc,
        "uts_mode": svc.uts,
        "privileged": svc.privileged,
        "cap_add": svc.cap_add or None,
        "cap_drop": svc.cap_drop or None,
        "devices": svc.devices or None,
        "restart_policy": _restart_policy(svc.restart),
        "read_only": svc.read_only or None,
        "tmpfs": svc.tmpfs or None,
        "ulimits": [{"Name": k, "Soft": v["soft"], "Hard": v["hard"]} for k, v in svc.ulimits.items()] or None,
        "security_opt": svc.security_opt or None,
        "shm_size": svc.shm_size,
        "dns": svc.dns or None,
        "extra_hosts": svc.extra_hosts or None,
        "dns_search": svc.dns_search or None,
        "mem_limit": svc.mem_limit,
        "cpu_shares": svc.cpu_shares,
        "log_config": {"Type": svc.log_driver, "Config": svc.log_opt} if svc.log_driver else None,
    }
    container: dict = {
        "image": svc.image,
        "name": svc.name,
        "command": svc.command,
        "entrypoint": svc.entrypoint,
        "environment": ({**svc.environment, READY_ENV: svc.ready_file} if svc.ready_file
                        else svc.environment) or None,
        "labels": {**svc.labels, **(extra_labels or {})},
        "volumes": paths or None,
        "tty": svc.tty,
        "stdin_open": svc.stdin_open,
        "working_dir": svc.working_dir,
        "user": str(svc.user) if svc.user is not None else None,
        "hostname": svc.hostname,
        "domainname": svc.domainname,
        "stop_signal": svc.stop_signal,
    }
    return CreateArgs(container={k: v for k, v in container.items() if v is not None},
                      host={k: v for k, v in host.items() if v is not None and v is not False})
