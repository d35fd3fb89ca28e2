"""What the `ros` commands share: the config paths of this invocation, system Docker, the engine, the catalog."""

from __future__ import annotations

import os

import click

from rancheros.config import load
from rancheros.config.paths import ConfigPaths
from rancheros.errors import DockerError, ServiceError
from rancheros.sysdocker.catalog import CatalogEntry, load_catalog

CLIENT_TIMEOUT = 120  # seconds for one API call (a `ros` run inside a service container included)


def paths_of(ctx: click.Context) -> ConfigPaths:
    """The ConfigPaths the root `ros` group put in ctx.obj (from the environment when run alone)."""
    paths = ctx.find_root().obj
    return paths if isinstance(paths, ConfigPaths) else ConfigPaths.from_env()


def system_docker(doc: dict, required: bool = True):
    """A DockerClient on system Docker (SYSTEM_DOCKER_HOST overrides the configured socket); with
    `required` off, None on a machine that has no system Docker socket at all."""
    from rancheros.sysdocker.applet import system_docker_host

    host = system_docker_host(load_config=lambda: doc)
    if host.startswith("unix://") and not os.path.exists(host[len("unix://"):]):
        if not required:
            return None
        raise DockerError(f"system Docker is not reachable at {host} (no such socket); is system-docker running?")
    import docker

    try:
        client = docker.DockerClient(base_url=host, timeout=CLIENT_TIMEOUT)
        client.ping()
    except Exception as e:  # connection refused, permission denied, ...
        raise DockerError(f"system Docker is not reachable at {host} ({type(e).__name__}); "
                          "is system-docker running?") from None
    return client


def engine_of(ctx: click.Context):
    """The service engine on system Docker, with the config of this invocation."""
    from rancheros.sysdocker.engine import Engine

    paths = paths_of(ctx)
    doc = load(paths)
    return Engine(system_docker(doc), doc, reload=lambda: load(paths))


def catalog_of(ctx: click.Context) -> dict[str, CatalogEntry]:
    """The bundled catalog and the config's repositories, their indexes fetched anew (the last good copy
    is kept when one cannot be fetched)."""
    from rancheros.sysdocker import repositories

    doc = load(paths_of(ctx))
    repositories.refresh(doc, say=lambda line: click.echo(f"warning: {line}", err=True))
    return load_catalog(doc=doc)


def catalog_entry(ctx: click.Context, name: str, kinds: tuple[str, ...]) -> CatalogEntry:
    """Catalog entry NAME of one of `kinds`; ServiceError naming the ones there are."""
    catalog = catalog_of(ctx)
    entry = catalog.get(name)
    if entry is None or entry.kind not in kinds:
        known = sorted(n for n, e in catalog.items() if e.kind in kinds)
        raise ServiceError(f"unknown {'/'.join(kinds)} {name!r} (available: {', '.join(known) or 'none'})")
    return entry
