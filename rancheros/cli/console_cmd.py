"""`ros console`: choose and switch the console; `ros console run` (also `ros console-run`) is what the
console containers run, `ros console reload-ssh` what a config change runs in the running one."""

import logging
import os
import sys
from pathlib import Path

import click

from rancheros import config, log
from rancheros.cli.context import catalog_entry, catalog_of, paths_of, system_docker
from rancheros.config import get, load, set_key
from rancheros.config.store import LocalStore
from rancheros.errors import DockerError, RosError, ServiceError
from rancheros.sysdocker.catalog import DEFAULT_CONSOLE, CatalogEntry, console_names, with_console
from rancheros.sysdocker.service import READY_ENV


def save_host_keys(paths: config.ConfigPaths, entries: dict[str, str]) -> None:
    """Store generated host keys in the local layer (rancher.ssh.keys.*), so reboots keep them."""
    def put(doc: dict) -> dict:
        for name, value in entries.items():
            doc = config.set_key(doc, f"rancher.ssh.keys.{name}", value)
        return doc
    try:
        config.store.LocalStore(paths).update(put)
    except RosError as e:  # e.g. a broken local layer: keep the console up with keys for this boot
        logging.getLogger("rancheros.console").error("host keys not saved, they last this boot only: %s", e)


@click.command("console-run", hidden=True)
@click.option("--root", default="/", type=click.Path(path_type=Path), help="Root of /etc, /home, /dev (tests).")
@click.option("--check-port", type=int, default=None, help="Only check: sshd must answer on this port, then exit.")
@click.pass_context
def run(ctx: click.Context, root: Path, check_port: int | None) -> None:
    """Prepare user rancher and SSH, run start.sh, then supervise sshd and the gettys."""
    from rancheros.console.run import console_check, console_run
    log.setup(tag="console", syslog=True)
    if root == Path("/") and not os.path.lexists("/dev/log"):
        os.symlink(log.SYSLOG_SOCKET, "/dev/log")  # sshd, sudo and login log to the syslog service
    paths = ctx.find_root().obj
    doc = config.load(paths)
    save = lambda entries: save_host_keys(paths, entries)  # noqa: E731
    ctx.exit(console_check(doc, root, save, check_port) if check_port
             else console_run(doc, root, save, os.environ.get(READY_ENV)))


@click.command("reload-ssh", hidden=True)
@click.option("--root", default="/", type=click.Path(path_type=Path), help="Root of /etc, /home (tests).")
@click.pass_context
def reload_ssh(ctx: click.Context, root: Path) -> None:
    """Give the running sshd the config's SSH settings and keys; sessions stay (run inside the console)."""
    from rancheros.console.reload import reload_ssh as reload

    paths = ctx.find_root().obj
    click.echo(reload(config.load(paths), root, lambda entries: save_host_keys(paths, entries)))


# --- ros console --------------------------------------------------------------
@click.group()
def console() -> None:
    """Choose the console container (default, debian-console, ubuntu-console, ...)."""


console.add_command(run, "run")  # what the console containers run
console.add_command(reload_ssh, "reload-ssh")  # what `ros config set` runs in the console


def set_console(ctx: click.Context, name: str) -> None:
    """Name the console in the config (the caller has checked that the catalog has it)."""
    LocalStore(paths_of(ctx)).update(lambda d: set_key(d, "rancher.console", name))


def list_consoles_of(ctx: click.Context, catalog: dict[str, CatalogEntry]) -> None:
    from rancheros.console import choice, switch as console_switch

    doc = load(paths_of(ctx))
    try:
        current = console_switch.running_console(system_docker(doc).api)
    except DockerError:
        current = None
    configured = get(doc, "rancher.console") or DEFAULT_CONSOLE
    for line in choice.list_lines(console_names(catalog), current, configured, choice.read_note()):
        click.echo(line)


@console.command("list")
@click.pass_context
def list_consoles(ctx: click.Context) -> None:
    """Consoles: `current` runs now, `enabled` from the next boot, `disabled` the others."""
    list_consoles_of(ctx, catalog_of(ctx))


@console.command("enable")
@click.argument("name")
@click.pass_context
def enable_console(ctx: click.Context, name: str) -> None:
    """Use console NAME from the next boot on."""
    if name != DEFAULT_CONSOLE:
        catalog_entry(ctx, name, ("console",))
    set_console(ctx, name)


@console.command()
@click.argument("name")
@click.option("-f", "--force", is_flag=True, help="Do not ask (switching ends sessions in the old console).")
@click.pass_context
def switch(ctx: click.Context, name: str, force: bool) -> None:
    """Use console NAME now. Its sshd must answer before the old console goes; if not, nothing changes."""
    from rancheros.console import switch as console_switch
    from rancheros.sysdocker.engine import Engine

    catalog = catalog_of(ctx)
    names = console_names(catalog)
    if name not in names:
        raise ServiceError(f"unknown console {name!r} (available: {', '.join(names)})")
    paths = paths_of(ctx)
    doc = load(paths)
    client = system_docker(doc)
    old = console_switch.running_console(client.api) or get(doc, "rancher.console") or DEFAULT_CONSOLE
    if old == name:
        click.echo(f"{name} is already the console")
        return
    if not force and sys.stdin.isatty():
        click.confirm(f"Switching to {name} ends the sessions in {old}. Continue?", abort=True)
    engine = Engine(client, with_console(doc, name), catalog=catalog, say=lambda line: click.echo(line, err=True))
    console_switch.check(engine)  # raises with the reason: nothing changed
    set_console(ctx, name)
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
    paths = paths_of(ctx)
    doc = load(paths)
    console_switch.swap(Engine(system_docker(doc), doc), LocalStore(paths), old, new)
