"""`ros service`, `ros addon`: the catalog in config, and the engine on system Docker."""

from __future__ import annotations

import sys

import click

from rancheros.cli import console_cmd
from rancheros.cli.context import catalog_entry, catalog_of, engine_of, paths_of, system_docker
from rancheros.config import get, load, set_key
from rancheros.config.store import LocalStore
from rancheros.errors import DockerError
from rancheros.sysdocker.catalog import DEFAULT_CONSOLE, CatalogEntry, included_names


def _set_include(ctx: click.Context, name: str, on: bool) -> None:
    LocalStore(paths_of(ctx)).update(lambda d: set_key(d, f"rancher.services_include.{name}", on))


def _running_states(doc: dict) -> dict[str, str]:
    """service -> container state, or {} when system Docker cannot be asked (list still works)."""
    try:
        from rancheros.sysdocker.engine import Engine
        return {s.name: s.state for s in Engine(system_docker(doc), doc, catalog={}).ps()}
    except DockerError:
        return {}


def _list(ctx: click.Context, kinds: tuple[str, ...], builtin: bool,
          catalog: dict[str, CatalogEntry]) -> None:
    doc = load(paths_of(ctx))
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
    _list(ctx, ("service", "addon", "console"), builtin=True, catalog=catalog_of(ctx))


def _include_command(on: bool, help: str) -> click.Command:
    """`ros service enable` or `disable`: one catalog entry in or out of rancher.services_include."""
    @click.command("enable" if on else "disable", help=help)
    @click.argument("name")
    @click.pass_context
    def include(ctx: click.Context, name: str) -> None:
        catalog_entry(ctx, name, ("service", "addon", "console"))
        _set_include(ctx, name, on)
    return include


service.add_command(_include_command(True, "Turn on catalog service NAME (rancher.services_include); "
                                           "`ros service up` starts it."))
service.add_command(_include_command(False, "Turn off catalog service NAME; the next `ros service up` removes "
                                            "its container."))


@service.command()
@click.argument("names", nargs=-1)
@click.pass_context
def up(ctx: click.Context, names: tuple[str, ...]) -> None:
    """Create/recreate/start services (all enabled ones, or NAMES) to match the config."""
    report = engine_of(ctx).up(list(names) or None)
    _report(report)
    if report.failed:
        ctx.exit(1)


@service.command()
@click.argument("names", nargs=-1)
@click.option("-t", "--timeout", default=10, show_default=True, help="Seconds before SIGKILL.")
@click.pass_context
def stop(ctx: click.Context, names: tuple[str, ...], timeout: int) -> None:
    """Stop services (all, or NAMES), dependants first."""
    errors = engine_of(ctx).stop(list(names) or None, timeout=timeout)
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
    engine_of(ctx).restart(list(names), timeout=timeout)


@service.command()
@click.argument("name")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new output.")
@click.option("--tail", default="all", help="Only the last N lines.")
@click.pass_context
def logs(ctx: click.Context, name: str, follow: bool, tail: str) -> None:
    """Print the output of service NAME's container."""
    out = sys.stdout.buffer
    try:
        for chunk in engine_of(ctx).logs(name, follow=follow, tail=int(tail) if tail.isdigit() else tail):
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
    for s in engine_of(ctx).ps():
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

    doc = load(paths_of(ctx))
    api = system_docker(doc).api
    names = [name] if name else [s.name for s in engine_of(ctx).ps()]
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
    catalog = catalog_of(ctx)
    _list(ctx, ("addon",), builtin=False, catalog=catalog)
    console_cmd.list_consoles_of(ctx, catalog)


@addon.command("enable")
@click.argument("name")
@click.pass_context
def enable_addon(ctx: click.Context, name: str) -> None:
    """Turn on add-on NAME; for a console: it is the console from the next boot."""
    if catalog_entry(ctx, name, ("addon", "console")).kind == "console":
        console_cmd.set_console(ctx, name)
        click.echo(f"{name} is the console from the next boot (ros console switch {name}: now)")
        return
    _set_include(ctx, name, True)


@addon.command("disable")
@click.argument("name")
@click.pass_context
def disable_addon(ctx: click.Context, name: str) -> None:
    """Turn off add-on NAME; for the configured console: the default console from the next boot."""
    if catalog_entry(ctx, name, ("addon", "console")).kind == "console":
        if (get(load(paths_of(ctx)), "rancher.console") or DEFAULT_CONSOLE) == name:
            console_cmd.set_console(ctx, DEFAULT_CONSOLE)
        return
    _set_include(ctx, name, False)
