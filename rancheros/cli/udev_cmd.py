"""`ros udev run`: what the udev system container runs."""

import click

from rancheros import log


@click.group(hidden=True)
def udev() -> None:
    """Device events (run by the udev service)."""


@udev.command("run")
@click.pass_context
def run(ctx: click.Context) -> None:
    """Run systemd-udevd and replay the add events of the devices present at boot."""
    from rancheros.udev.run import udev_run
    log.setup(tag="udev", syslog=True)
    ctx.exit(udev_run())
