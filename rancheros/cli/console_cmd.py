"""`ros console-run`: what the console system container runs."""

import logging
import os
from pathlib import Path

import click

from rancheros import config, log
from rancheros.errors import RosError
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
