"""`ros docker run`: what the user Docker system container runs."""

import shlex

import click

from rancheros import config, log


@click.group(hidden=True)
def docker() -> None:
    """The user Docker engine (run by the docker service)."""


@docker.command("run")
@click.option("--dry-run", is_flag=True, help="Print the dockerd command instead of running it.")
@click.pass_obj
def run(paths: config.ConfigPaths, dry_run: bool) -> None:
    """Build dockerd's command line from rancher.docker and exec it."""
    from rancheros.userdocker import run as userdocker
    from rancheros.userdocker.tls import server_dir
    log.setup(tag="docker", syslog=True)
    cmd = userdocker.command(config.load(paths), server_dir(paths.config_dir))
    if dry_run:
        click.echo(" ".join(f"{k}={shlex.quote(v)}" for k, v in cmd.env.items()) + (" " if cmd.env else "")
                   + shlex.join(cmd.argv))
        return
    userdocker.exec_dockerd(cmd)
