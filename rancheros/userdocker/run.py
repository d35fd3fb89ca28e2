"""`ros docker run`: make sure the TLS material exists, then exec the user dockerd."""

import logging
import os
from pathlib import Path
from typing import Callable

from rancheros.userdocker import containerd, tls
from rancheros.userdocker.dockerd import DockerdCommand, build

log = logging.getLogger(__name__)
PEM_KEYS = ("ca_cert", "ca_key", "server_cert", "server_key")


def prepare_tls(docker_cfg: dict, tls_dir: Path, hostname: str | None,
                addresses: Callable[[], list[str]] = tls.host_addresses) -> None:
    """With tls on: PEMs from config win; else keep what is on disk; else generate a server certificate."""
    if not docker_cfg.get("tls"):
        return
    if tls.materialize(tls_dir, {k: docker_cfg.get(k) or "" for k in PEM_KEYS}):
        return
    if not (tls_dir / tls.SERVER_CERT).exists() or not (tls_dir / tls.SERVER_KEY).exists():
        tls.gen_server(tls_dir, tls.server_names(hostname, [], addresses()))


def command(doc: dict, tls_dir: Path) -> DockerdCommand:
    """The dockerd command for this config, with TLS material in place."""
    docker_cfg = (doc.get("rancher") or {}).get("docker") or {}
    hostname = doc.get("hostname") or (doc.get("rancher") or {}).get("hostname")
    prepare_tls(docker_cfg, tls_dir, hostname)
    return build(docker_cfg, tls_dir)


def exec_dockerd(cmd: DockerdCommand) -> None:
    """Start containerd and wait for it, then replace this process with dockerd, so the container's restart
    policy watches dockerd itself."""
    if cmd.containerd is not None:
        containerd.start(cmd.containerd)
    log.info("starting user docker: %s", " ".join(cmd.argv))
    os.execvpe(cmd.argv[0], cmd.argv, {**os.environ, **cmd.env})
