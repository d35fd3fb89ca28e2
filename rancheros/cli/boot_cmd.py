"""`ros boot trace`: the boot's milestones with their times, as the console showed them."""

import json

import click

from rancheros.boottrace import read_trace
from rancheros.log import TRACE_FILE


@click.group()
def boot() -> None:
    """How this boot went."""


@boot.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON document: boot_id and milestones.")
@click.option("--file", "path", default=TRACE_FILE, show_default=True, metavar="PATH", help="The trace to read.")
def trace(as_json: bool, path: str) -> None:
    """Each milestone of this boot: seconds since the kernel started, the step's duration, the console line."""
    found = read_trace(path)
    if found.bad_lines:
        click.echo(f"ros: {found.bad_lines} unreadable line(s) in {path} skipped", err=True)
    if as_json:
        click.echo(json.dumps(found.as_json(), indent=1))
        return
    click.echo(f"boot {found.boot_id or '(unknown id)'}")
    last = 0.0
    for m in found.milestones:
        click.echo(f"{m.t:9.2f} {m.t - last:+7.2f}  {m.message}")
        last = m.t
