"""The `system-docker` applet: the docker CLI pointed at the system Docker socket."""

from __future__ import annotations

import os
import shutil
import sys

DEFAULT_SOCKET = "/var/run/system-docker.sock"


def system_docker_host(environ: dict | None = None, load_config=None) -> str:
    """SYSTEM_DOCKER_HOST, else rancher.system_docker.socket of the config, else the default socket."""
    env = os.environ if environ is None else environ
    if env.get("SYSTEM_DOCKER_HOST"):
        return env["SYSTEM_DOCKER_HOST"]
    socket = DEFAULT_SOCKET
    if load_config is not None:
        try:
            socket = ((load_config().get("rancher") or {}).get("system_docker") or {}).get("socket") or socket
        except Exception:  # an unreadable config must not take the operator's docker CLI away
            pass
    return socket if "://" in socket else f"unix://{socket}"


def _load_config() -> dict:
    from rancheros.config import ConfigPaths, load
    return load(ConfigPaths.from_env())


def main(argv: list[str]) -> int:
    """Exec `docker -H <system socket> ARGS...`; returns only when docker cannot be executed."""
    docker = shutil.which("docker")
    if docker is None:
        print("system-docker: the docker CLI is not installed (/usr/bin/docker)", file=sys.stderr)
        return 127
    host = system_docker_host(load_config=_load_config)
    try:
        os.execv(docker, ["docker", "-H", host, *argv])
    except OSError as e:
        print(f"system-docker: cannot execute {docker}: {e.strerror}", file=sys.stderr)
        return 126
    return 0  # not reached
