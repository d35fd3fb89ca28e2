"""The Compose-subset service model: one definition -> one container's create arguments.

Pure code: parsing, the definition hash and the mapping to Docker API arguments
are testable without a daemon.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field, make_dataclass

from rancheros.config import compose
from rancheros.config.schema import type_errors
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



def _csv(value: str | None) -> list[str]:
    return [p.strip() for p in (value or "").split(",") if p.strip()]


class _ServiceLabels:
    """What the io.rancher.os.* labels say of a service; the fields come from config/compose.py."""

    name: str
    labels: dict[str, str]
    depends_on: list[str]
    volumes_from: list[str]

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


def _model_field(f: compose.Field) -> tuple:
    if isinstance(f.default, (list, dict)):
        return f.name, f.type, field(default_factory=type(f.default))
    return (f.name, f.type) if f.name == "image" else (f.name, f.type, field(default=f.default))


# One service definition, normalised (labels and environment as str->str maps): its fields are the table's.
Service = make_dataclass("Service", [("name", "str"), *(_model_field(f) for f in compose.MODEL)],
                         bases=(_ServiceLabels,))
Service.__module__ = __name__
Service.__doc__ = "One service definition, normalised; its fields are config/compose.py's FIELDS."


def parse_service(name: str, spec: dict) -> Service:
    """Validate and normalise one definition against the field table; ServiceError names the service and key."""
    where = f"service {name}"
    if not isinstance(spec, dict):
        raise ServiceError(f"{where}: definition must be a mapping, got {type(spec).__name__}")
    unknown = sorted(str(k) for k in spec if k not in compose.BY_NAME)
    if unknown:
        raise ServiceError(f"{where}: unsupported key(s) {', '.join(unknown)} "
                           f"(supported: {', '.join(sorted(compose.BY_NAME))})")
    ignored = sorted(k for k in spec if compose.BY_NAME[k].ignored)
    if ignored:
        log.warning("%s: ignoring %s", where, ", ".join(ignored))
    problems = type_errors({k: v for k, v in spec.items() if v is not None}, compose.SCHEMA)
    if problems:
        raise ServiceError(f"{where}: {'; '.join(f'{p.path}: {p.message}' for p in problems)}")
    if not spec.get("image"):
        raise ServiceError(f"{where}: image is required")
    values: dict = {}
    for key, value in spec.items():
        f = compose.BY_NAME[key]
        if value is None or f.ignored:
            continue
        target = compose.BY_NAME[f.alias_of] if f.alias_of else f
        if f.alias_of and spec.get(f.alias_of):
            continue   # network_mode wins over net
        values[target.name] = target.normalise(value, f"{where}: {key}") if target.normalise else value
    return Service(name=name, **values)


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
    """Map a Service to low-level Docker API create arguments, by the field table (container named after it)."""
    args: dict[str, dict] = {"container": {"name": svc.name}, "host": {}}
    for f in compose.MODEL:
        if f.api and "." in f.api:
            side, arg = f.api.split(".")
            value = getattr(svc, f.name)
            args[side][arg] = f.to_api(value) if f.to_api and value is not None else value
    binds, paths = _split_volumes(svc.volumes)
    args["host"]["binds"] = binds
    args["container"]["volumes"] = paths or None
    env = {**svc.environment, READY_ENV: svc.ready_file} if svc.ready_file else svc.environment
    args["container"]["environment"] = env or None
    args["container"]["labels"] = {**svc.labels, **(extra_labels or {})}
    args["host"]["log_config"] = {"Type": svc.log_driver, "Config": svc.log_opt} if svc.log_driver else None
    return CreateArgs(container={k: v for k, v in args["container"].items() if v is not None},
                      host={k: v for k, v in args["host"].items() if v not in (None, False, [], {})})
