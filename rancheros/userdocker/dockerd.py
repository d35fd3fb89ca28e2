"""The user Docker's dockerd command line, built from `rancher.docker`."""

from dataclasses import dataclass, field
from pathlib import Path

from rancheros.config.keys import strings
from rancheros.errors import ConfigError
from rancheros.userdocker.containerd import Containerd
from rancheros.mirrors import mirror_flags

DOCKER_GID = 1101  # group `docker` of the user Docker: its socket's group, shared with the console
TLS_PORT = 2376
DOCKERD = "dockerd"


@dataclass(frozen=True)
class DockerdCommand:
    """What `ros docker run` execs (after starting `containerd`, whose socket argv names)."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    containerd: Containerd | None = None


def _list(cfg: dict, key: str) -> list[str]:
    return strings(cfg.get(key), f"rancher.docker.{key}")


def environment(cfg: dict) -> dict[str, str]:
    """rancher.docker.environment as a list of KEY=VALUE or a map."""
    env = cfg.get("environment") or []
    if isinstance(env, dict):
        return {str(k): "" if v is None else str(v) for k, v in env.items()}
    out = {}
    for item in _list(cfg, "environment"):
        if "=" not in item:
            raise ConfigError(f"rancher.docker.environment: {item!r} is not KEY=VALUE")
        k, v = item.split("=", 1)
        out[k] = v
    return out


def _flag(name: str, value) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, bool):
        return [f"--{name}={'true' if value else 'false'}"]
    return [f"--{name}", str(value)]


def build(cfg: dict, tls_dir: Path, dockerd: str = DOCKERD) -> DockerdCommand:
    """dockerd + our flags from the named keys + TLS + hosts + `--containerd` (ours, started first) + `args` +
    `tls_args` + `extra_args`, in that order."""
    hosts = _list(cfg, "host") or ["unix:///var/run/docker.sock"]
    argv = [dockerd, "--group", str(cfg.get("group") or DOCKER_GID)]
    argv += _flag("storage-driver", cfg.get("storage_driver"))
    argv += _flag("data-root", cfg.get("data_root"))
    argv += _flag("bridge", cfg.get("bridge"))
    argv += _flag("bip", cfg.get("bip"))
    argv += _flag("mtu", cfg.get("mtu"))
    argv += _flag("userland-proxy", cfg.get("userland_proxy"))
    argv += _flag("log-driver", cfg.get("log_driver"))
    if cfg.get("debug"):
        argv.append("--debug")
    argv += mirror_flags("rancher.docker.registry_mirror", _list(cfg, "registry_mirror"),
                         _list(cfg, "insecure_registry"))
    log_opts = cfg.get("log_opts") or {}
    if not isinstance(log_opts, dict):
        raise ConfigError(f"rancher.docker.log_opts: expected a map like {{max-size: 25m}}, got {log_opts!r}")
    for k in sorted(log_opts):
        argv += ["--log-opt", f"{k}={log_opts[k]}"]
    if cfg.get("tls"):
        from rancheros.userdocker import tls  # cryptography is a third of a `ros` start: only when asked
        if not any(h.startswith("tcp://") for h in hosts):
            hosts.append(f"tcp://0.0.0.0:{TLS_PORT}")
        argv += ["--tlsverify", "--tlscacert", str(tls_dir / tls.CA_CERT),
                 "--tlscert", str(tls_dir / tls.SERVER_CERT), "--tlskey", str(tls_dir / tls.SERVER_KEY)]
    for h in hosts:
        argv += ["-H", h]
    args = _list(cfg, "args")
    while args and args[0] in ("docker", "dockerd", "daemon"):  # RancherOS wrote `args: [daemon, ...]`
        args.pop(0)
    if cfg.get("tls"):
        args += _list(cfg, "tls_args")
    args += _list(cfg, "extra_args")
    if any(a == "--containerd" or a.startswith("--containerd=") for a in args):
        return DockerdCommand(argv + args, environment(cfg))   # the operator's own containerd
    containerd = Containerd.of(argv + args)
    return DockerdCommand(argv + ["--containerd", str(containerd.socket)] + args, environment(cfg), containerd)
