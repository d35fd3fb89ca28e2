"""`ros service`, `ros addon`, `ros console`: the catalog in config, and the engine on system Docker."""

from __future__ import annotations

import sys

import click

from rancheros.cli import console_cmd
from rancheros.config import get, load, set_key
from rancheros.config.paths import ConfigPaths
from rancheros.config.store import LocalStore
from rancheros.errors import DockerError, ServiceError
from rancheros.sysdocker.catalog import (DEFAULT_CONSOLE, CatalogEntry, console_names, included_names, load_catalog,
                                         with_console)


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


def _catalog(ctx: click.Context) -> dict[str, CatalogEntry]:
    """The bundled catalog and the config's repositories, their indexes fetched anew (the last good copy
    is kept when one cannot be fetched)."""
    from rancheros.sysdocker import repositories

    doc = load(_paths(ctx))
    repositories.refresh(doc, say=lambda line: click.echo(f"warning: {line}", err=True))
    return load_catalog(doc=doc)


def _catalog_entry(ctx: click.Context, name: str, kinds: tuple[str, ...]) -> CatalogEntry:
    catalog = _catalog(ctx)
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


def _list(ctx: click.Context, kinds: tuple[str, ...], builtin: bool,
          catalog: dict[str, CatalogEntry]) -> None:
    doc = load(_paths(ctx))
    states = _running_states(doc)
    enabled = set(included_names(doc))
    if builtin:
        for name in sorted((doc.get("rancher") or {}).get("services") or {}):
            click.echo(f"{'enabled':9}{name:24}{states.get(name, '')}".rstrip())
    for name, entry in sorted(catalog.items()):
        if entry.kind in kinds:
            flag = "enabled" if name in enabled else "disabled"
            shown = states.get(next(iter(entry.services)), "") if name in enabled else ""
            source = "" if entry.repository == "builtin" else f"[{entry.repository}] "
            click.echo(f"{flag:9}{name:24}{source}{shown}".rstrip())


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
    _list(ctx, ("service", "addon", "console"), builtin=True, catalog=_catalog(ctx))


@service.command()
@click.argument("name")
@click.pass_context
def enable(ctx: click.Context, name: str) -> None:
    """Turn on catalog service NAME (rancher.services_include); `ros service up` starts it."""
    _catalog_entry(ctx, name, ("service", "addon", "console"))
    _set_include(ctx, name, True)


@service.command()
@click.argument("name")
@click.pass_context
def disable(ctx: click.Context, name: str) -> None:
    """Turn off catalog service NAME; the next `ros service up` removes its container."""
    _catalog_entry(ctx, name, ("service", "addon", "console"))
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


@service.command()
@click.argument("name", required=False)
@click.option("-n", "--lines", default=5, show_default=True, help="Log lines to show (with NAME).")
@click.option("--json", "as_json", is_flag=True, help="As JSON (a list without NAME).")
@click.pass_context
def status(ctx: click.Context, name: str | None, lines: int, as_json: bool) -> None:
    """State, restarts since boot, last exit and Docker's restart backoff of NAME (with its last log lines),
    or of every service."""
    import dataclasses
    import json

    import psutil

    from rancheros.sysdocker import status as service_status

    doc = load(_paths(ctx))
    api = _client(doc).api
    names = [name] if name else [s.name for s in _engine(ctx).ps()]
    found = [service_status.status(api, n, since=psutil.boot_time(), log_lines=lines if name else 0) for n in names]
    if as_json:
        rows = [dataclasses.asdict(s) for s in found]
        click.echo(json.dumps(rows[0] if name else rows, indent=1))
    elif name:
        click.echo(service_status.format_status(found[0]))
    else:
        click.echo(f"{'NAME':20}{'STATE':12}{'RESTARTS':10}{'LAST EXIT':22}BACKOFF")
        for s in found:
            click.echo(service_status.summary_line(s))


# --- ros addon ----------------------------------------------------------------
@click.group()
def addon() -> None:
    """The catalog's add-ons; a console is an add-on too (enabling one makes it the console)."""


@addon.command("list")
@click.pass_context
def list_addons(ctx: click.Context) -> None:
    """Add-ons, enabled or disabled, then the consoles as `ros console list` shows them."""
    catalog = _catalog(ctx)
    _list(ctx, ("addon",), builtin=False, catalog=catalog)
    _list_consoles(ctx, catalog)


@addon.command("enable")
@click.argument("name")
@click.pass_context
def enable_addon(ctx: click.Context, name: str) -> None:
    """Turn on add-on NAME; for a console: it is the console from the next boot."""
    if _catalog_entry(ctx, name, ("addon", "console")).kind == "console":
        _set_console(ctx, name)
        click.echo(f"{name} is the console from the next boot (ros console switch {name}: now)")
        return
    _set_include(ctx, name, True)


@addon.command("disable")
@click.argument("name")
@click.pass_context
def disable_addon(ctx: click.Context, name: str) -> None:
    """Turn off add-on NAME; for the configured console: the default console from the next boot."""
    if _catalog_entry(ctx, name, ("addon", "console")).kind == "console":
        if (get(load(_paths(ctx)), "rancher.console") or DEFAULT_CONSOLE) == name:
            _set_console(ctx, DEFAULT_CONSOLE)
        return
    _set_include(ctx, name, False)


# --- ros console --------------------------------------------------------------
@click.group()
def console() -> None:
    """Choose the console container (default, debian-console, ubuntu-console, ...)."""


console.add_command(console_cmd.run, "run")  # what the console containers run
console.add_command(console_cmd.reload_ssh, "reload-ssh")  # what `ros config set` runs in the console


def _set_console(ctx: click.Context, name: str) -> None:
    """Name the console in the config (the caller has checked that the catalog has it)."""
    LocalStore(_paths(ctx)).update(lambda d: set_key(d, "rancher.console", name))


def _list_consoles(ctx: click.Context, catalog: dict[str, CatalogEntry]) -> None:
    from rancheros.console import choice, switch as console_switch

    doc = load(_paths(ctx))
    try:
        current = console_switch.running_console(_client(doc).api)
    except DockerError:
        current = None
    configured = get(doc, "rancher.console") or DEFAULT_CONSOLE
    for line in choice.list_lines(console_names(catalog), current, configured, choice.read_note()):
        click.echo(line)


@console.command("list")
@click.pass_context
def list_consoles(ctx: click.Context) -> None:
    """Consoles: `current` runs now, `enabled` from the next boot, `disabled` the others."""
    _list_consoles(ctx, _catalog(ctx))


@console.command("enable")
@click.argument("name")
@click.pass_context
def enable_console(ctx: click.Context, name: str) -> None:
    """Use console NAME from the next boot on."""
    if name != DEFAULT_CONSOLE:
        _catalog_entry(ctx, name, ("console",))
    _set_console(ctx, name)


@console.command()
@click.argument("name")
@click.option("-f", "--force", is_flag=True, help="Do not ask (switching ends sessions in the old console).")
@click.pass_context
def switch(ctx: click.Context, name: str, force: bool) -> None:
    """Use console NAME now. Its sshd must answer before the old console goes; if not, nothing changes."""
    from rancheros.console import switch as console_switch
    from rancheros.sysdocker.engine import Engine

    catalog = _catalog(ctx)
    names = console_names(catalog)
    if name not in names:
        raise ServiceError(f"unknown console {name!r} (available: {', '.join(names)})")
    paths = _paths(ctx)
    doc = load(paths)
    client = _client(doc)
    old = console_switch.running_console(client.api) or get(doc, "rancher.console") or DEFAULT_CONSOLE
    if old == name:
        click.echo(f"{name} is already the console")
        return
    if not force and sys.stdin.isatty():
        click.confirm(f"Switching to {name} ends the sessions in {old}. Continue?", abort=True)
    engine = Engine(client, with_console(doc, name), catalog=catalog, say=lambda line: click.echo(line, err=True))
    console_switch.check(engine)  # raises with the reason: nothing changed
    _set_console(ctx, name)
    engine = Engine(client, load(paths))
    cid = console_switch.start_swap(engine, old, name)
    click.echo(f"{name} passed its check; switching now: sessions in {old} end, log in again", err=True)
    status = client.api.wait(cid, timeout=console_switch.ANSWER_TIMEOUT + 60)["StatusCode"]
    if status != 0:  # still here (not inside the old console): say what the helper said
        raise ServiceError(client.api.logs(cid, tail=3).decode(errors="replace").strip() or
                           f"the console swap exited with status {status}")
    click.echo(f"console is now {name}")


@console.command("swap", hidden=True)
@click.argument("old")
@click.argument("new")
@click.pass_context
def swap(ctx: click.Context, old: str, new: str) -> None:
    """The second half of a switch, in a helper container: replace console OLD by NEW or put OLD back."""
    from rancheros import log
    from rancheros.console import switch as console_switch
    from rancheros.sysdocker.engine import Engine

    log.setup(tag="console-switch", syslog=True)
    paths = _paths(ctx)
    doc = load(paths)
    console_switch.swap(Engine(_client(doc), doc), LocalStore(paths), old, new)
