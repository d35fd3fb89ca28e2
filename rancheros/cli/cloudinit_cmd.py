"""`ros cloud-init`: run a cloud-init stage by hand or as the cloud-init service."""

import click

from rancheros.config import load


@click.command("cloud-init", hidden=True)
@click.argument("stage", type=click.Choice(["local", "network"]))
@click.pass_obj
def cloud_init(paths, stage: str) -> int:
    """Fetch user-data from the configured datasources and apply it."""
    from rancheros import cloudinit, log
    log.setup(tag="cloud-init", syslog=True)
    doc = load(paths)
    if stage == "local":
        cloudinit.local_stage(paths, doc)
        return 0
    return cloudinit.network_stage(paths, doc)
