"""Registry mirrors as dockerd flags, for both Dockers: an http:// mirror is also an insecure registry."""

from __future__ import annotations

from urllib.parse import urlsplit

from rancheros.errors import ConfigError


def mirror_flags(key: str, mirrors: list[str], insecure: list[str] = ()) -> list[str]:
    """`--registry-mirror URL` per mirror and `--insecure-registry` per plain-HTTP host (or `insecure` entry).

    `key` names the config key in errors (rancher.docker.registry_mirror, ...).
    """
    argv: list[str] = []
    hosts = list(insecure)
    for url in mirrors:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"{key}: {url!r} is not a registry URL like http://10.0.2.2:5000 "
                              "or https://mirror.example.com")
        argv += ["--registry-mirror", url]
        if parts.scheme == "http" and parts.netloc not in hosts:
            hosts.append(parts.netloc)
    for host in hosts:
        argv += ["--insecure-registry", host]
    return argv
