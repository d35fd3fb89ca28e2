"""`build.py publish`: push every image of an archive to a registry with skopeo (no Docker daemon).

Each image keeps its repository and tag under the registry (HOST:PORT/rancheros/os-...:vX).
"""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import tarfile
from pathlib import Path
from typing import Optional

from rosbuild.errors import BuildError
from rosbuild import steps

TIMEOUT = 900   # seconds for one image's push
_REGISTRY = re.compile(r"(\[[0-9A-Fa-f:]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?")


def check_registry(registry: str) -> str:
    """`registry` as HOST[:PORT] (no scheme, no path), or BuildError."""
    if not _REGISTRY.fullmatch(registry):
        raise BuildError(f"--registry {registry!r}: give HOST:PORT (no scheme, no path)")
    return registry


def is_loopback(registry: str) -> bool:
    """A registry on this machine (localhost, 127.0.0.0/8, ::1): plain HTTP by default."""
    host = check_registry(registry).rsplit(":", 1)[0] if not registry.startswith("[") else registry
    host = host.split("]")[0].lstrip("[")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def archive_tags(archive: Path) -> list[str]:
    """The repo:tag of every image in a docker-archive (its manifest.json)."""
    try:
        with tarfile.open(archive) as tar:
            member = tar.extractfile("manifest.json")
            manifest = json.load(member) if member else []
    except (OSError, tarfile.TarError, KeyError, ValueError) as exc:
        raise BuildError(f"{archive}: not an image archive ({exc}); run ./build.py build") from exc
    return [t for m in manifest for t in m.get("RepoTags") or []]


def skopeo_argv(archive: Path, tag: str, registry: str, insecure: bool) -> list[str]:
    """skopeo copy of one image of the archive to REGISTRY/<repo>:<tag>."""
    return ["skopeo", "copy", "--quiet", f"--dest-tls-verify={'false' if insecure else 'true'}",
            f"docker-archive:{archive}:{tag}", f"docker://{registry}/{tag}"]


def publish(archive: Path, registry: str, insecure: Optional[bool] = None) -> list[str]:
    """Push every image of `archive`; `insecure` None means plain HTTP for loopback registries only."""
    check_registry(registry)
    if shutil.which("skopeo") is None:
        raise BuildError("skopeo is not installed: apt-get install skopeo (./build.py installs it)")
    tags = archive_tags(archive)
    if not tags:
        raise BuildError(f"{archive} holds no images (every catalog image was skipped?): nothing to publish")
    plain = is_loopback(registry) if insecure is None else insecure
    pushed = []
    for tag in tags:
        with steps.naming(f"publish {tag} to {registry} ({'plain HTTP' if plain else 'TLS'})"):
            steps.run(skopeo_argv(archive, tag, registry, plain), timeout=TIMEOUT)
        steps.say(f"published {registry}/{tag}")
        pushed.append(f"{registry}/{tag}")
    return pushed
