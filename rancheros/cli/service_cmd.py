"""`ros service`, `ros addon`, `ros console`: the catalog in config, and the engine on system Docker."""

from __future__ import annotations

import sys

import click

from rancheros.cli import console_cmd
from rancheros.config import get, load, set_key
from rancheros.config.paths import ConfigPaths
from rancheros.config.store import LocalStore
from rancheros.errors import DockerError, ServiceError
from rancheros.sysdocker.catalog import CatalogEntry, included_names, load_catalog


def _paths(ctx: click.Context) -> ConfigPaths:
    paths = ctx.find_root().obj
    return paths if isinstance(paths, ConfigPaths) else ConfigPaths.from_env()


def _client(doc: dict):
    """A DockerClient on system Docker (SYSTEM_DOCKER_HOST overrides the configured socket)."""
    import docker

    from rancheros.sysdocker.cli import system_docker_host

    host = system_docker_host(load_config=lambda: doc)
    try:
        client = docker.DockerClient(base_url=host, timeout=120)
        client.ping()
    except Exception as e:  # connection refused, missing socket, ...
        raise DockerError(f"system Docker is not reachable at {host} ({type(e).__name__}); "
                          "is system-docker running?") from None
    return client


def _engine(ctx: click.Context):
    from rancheros.sysdocker.engine import Engine

    paths = _paths(ctx)
    doc = load(paths)
    return Engine(_client(doc), doc, reload=lambda: load(paths))


def _catalog_entry(name: str, kinds: tuple[str, ...]) -> CatalogEntry:
    catalog = load_catalog()
    entry = catalog.get(name)
    if entry is None or entry.kind not in kinds:
        known = sorted(n for n, e in catalog.items() if e.kind in kinds)
        raise ServiceError(f"unknown {'/'.join(kinds)} {name!r} (available: {', '.join(known) or 'none'})")
    return entry


def _set_include(ctx: click.Context, name: str, on: bool) -> None:
    LocalStore(_paths(ctx)).update(lambda d: set_key(d, f"rancher.services_include.{name}", on))


def _running_states(doc: dict) -> dict[str, str]:
    """service -> container state, or {} when system Docker cannot be asked (list still works)."""
    try:
        from rancheros.sysdocker.engine import Engine
        return {s.name: s.state for s in Engine(_client(doc), doc, catalog={}).ps()}
    except DockerError:
        return {}


def _list(ctx: click.Context, kinds: tuple[str, ...], builtin: bool) -> None:
    doc = load(_paths(ctx))
    states = _running_states(doc)
    enabled = set(included_names(doc))
    if builtin:
        for name in sorted((doc.get("rancher") or {}).get("services") or {}):
            click.echo(f"{'enabled':9}{name:24}{states.get(name, '')}".rstrip())
    for name, entry in sorted(load_catalog().items()):
        if entry.kind in kinds:
            flag = "enabled" if name in enabled else "disabled"
            shown = states.get(next(iter(entry.services)), "") if name in enabled else ""
            click.echo(f"{flag:9}{name:24}{shown}".rstrip())


def _report(report) -> None:
    for name, action in sorted(report.actions.items()):
        click.echo(f"{name}: {action}")
    for name in report.removed:
        click.echo(f"{name}: removed")
    for line in report.problems:
        click.echo(f"warning: {line}", err=True)
    for name, reason in sorted(report.failed.items()):
        click.echo(f"{name}: failed: {reason}", err=True)


# --- ros service --------------------------------------------------------------
@click.group()
def service() -> None:
    """List, enable and run system services."""


@service.command("list")
@click.pass_context
def list_services(ctx: click.Context) -> None:
    """Every service: built-in and catalog, enabled or disabled, with its container state."""
    _list(ctx, ("service", "addon", "console"), builtin=True)


@service.command()
@click.argument("name")
@click.pass_context
def enable(ctx: click.Context, name: str) -> None:
    """Turn on catalog service NAME (rancher.services_include); `ros service up` starts it."""
    _catalog_entry(name, ("service", "addon", "console"))
    _set_include(ctx, name, True)


@service.command()
@click.argument("name")
@click.pass_context
def disable(ctx: click.Context, name: str) -> None:
    """Turn off catalog service NAME; the next `ros service up` removes its container."""
    _catalog_entry(name, ("service", "addon", "console"))
    _set_include(ctx, name, False)


@service.command()
@click.argument("names", nargs=-1)
@click.pass_context
def up(ctx: click.Context, names: tuple[str, ...]) -> None:
    """Create/recreate/start services (all enabled ones, or NAMES) to match the config."""
    report = _engine(ctx).up(list(names) or None)
    _report(report)
    if report.failed:
        ctx.exit(1)


@service.command()
@click.argument("names", nargs=-1)
@click.option("-t", "--timeout", default=10, show_default=True, help="Seconds before SIGKILL.")
@click.pass_context
def stop(ctx: click.Context, names: tuple[str, ...], timeout: int) -> None:
    """Stop services (all, or NAMES), dependants first."""
    errors = _engine(ctx).stop(list(names) or None, timeout=timeout)
    for name, reason in sorted(errors.items()):
        click.echo(f"{name}: {reason}", err=True)
    if errors:
        ctx.exit(1)


@service.command()
@click.argument("names", nargs=-1, required=True)
@click.option("-t", "--timeout", default=10, show_default=True, help="Seconds before SIGKILL.")
@click.pass_context
def restart(ctx: click.Context, names: tuple[str, ...], timeout: int) -> None:
    """Restart the containers of NAMES."""
    _engine(ctx).restart(list(names), timeout=timeout)


@service.command()
@click.argument("name")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new output.")
@click.option("--tail", default="all", help="Only the last N lines.")
@click.pass_context
def logs(ctx: click.Context, name: str, follow: bool, tail: str) -> None:
    """Print the output of service NAME's container."""
    out = sys.stdout.buffer
    try:
        for chunk in _engine(ctx).logs(name, follow=follow, tail=int(tail) if tail.isdigit() else tail):
            out.write(chunk)
            out.flush()
    except KeyboardInterrupt:
        pass


@service.command()
@click.option("-a", "--all", "show_all", is_flag=True, help="Also stopped and created-only containers.")
@click.pass_context
def ps(ctx: click.Context, show_all: bool) -> None:
    """The services' containers and their state."""
    click.echo(f"{'NAME':24}{'STATE':10}{'IMAGE':40}STATUS")
    for s in _engine(ctx).ps():
        if show_all or s.state == "running":
            click.echo(f"{s.name:24}{s.state:10}{s.image:40}{s.status}")


# --- ros addon ----------------------------------------------------------------
@click.group()
def addon() -> None:
    """The catalog's add-ons."""


@addon.command("list")
@click.pass_context
def list_addons(ctx: click.Context) -> None:
    """Add-ons, enabled or disabled."""
    _list(ctx, ("addon",), builtin=False)


@addon.command("enable")
@click.argument("name")
@click.pass_context
def enable_addon(ctx: click.Context, name: str) -> None:
    """Turn on add-on NAME."""
    _catalog_entry(name, ("addon",))
    _set_include(ctx, name, True)


@addon.command("disable")
@click.argument("name")
@click.pass_context
def disable_addon(ctx: click.Context, name: str) -> None:
    """Turn off add-on NAME."""
    _catalog_entry(name, ("addon",))
    _set_include(ctx, name, False)


# --- ros console --------------------------------------------------------------
@click.group()
def console() -> None:
    """Choose the console container (default, ubuntu-console, debian-console, ...)."""


console.add_command(console_cmd.run, "run")  # what the console containers run


def _console_names() -> list[str]:
    return ["default", *sorted(n for n, e in load_catalog().items() if e.kind == "console")]


def _set_console(ctx: click.Context, name: str) -> None:
    if name != "default":
        _catalog_entry(name, ("console",))
    LocalStore(_paths(ctx)).update(lambda d: set_key(d, "rancher.console", name))


@console.command("list")
@click.pass_context
def list_consoles(ctx: click.Context) -> None:
    """Available consoles; the current one is marked."""
    current = get(load(_paths(ctx)), "rancher.console") or "default"
    for name in _console_names():
        click.echo(f"{'current' if name == current else 'disabled':9}{name}")


@console.command("enable")
@click.argument("name")
@click.pass_context
def enable_console(ctx: click.Context, name: str) -> None:
    """Use console NAME from the next boot on."""
    _set_console(ctx, name)


@console.command()
@click.argument("name")
@click.option("-f", "--force", is_flag=True, help="Do not ask (switching ends sessions in the old console).")
@click.pass_context
def switch(ctx: click.Context, name: str, force: bool) -> None:
    """Use console NAME now: recreates the console container."""
    if not force and sys.stdin.isatty():
        click.confirm(f"Switching to {name} ends the current console's sessions. Continue?", abort=True)
    _set_console(ctx, name)
    report = _engine(ctx).up(["console"])
    _report(report)
    if report.failed:
        ctx.exit(1)
