"""`ros network`: what the network system container runs (`up`) and udhcpc's callback (`dhcp-event`)."""

import os
from pathlib import Path

import click

from rancheros import config, log


@click.group(hidden=True)
def network() -> None:
    """Configure interfaces, DNS and hostname (run by the network service)."""


@network.command("up")
@click.option("--root", default="/", type=click.Path(path_type=Path), help="Root for /etc and /run files.")
@click.option("--netns", default=None, hidden=True, help="Work in this network namespace (tests).")
@click.option("--once", is_flag=True, help="Apply static settings and exit without DHCP clients.")
@click.pass_obj
def up(paths: config.ConfigPaths, root: Path, netns: str | None, once: bool) -> None:
    """Apply rancher.network, write resolv.conf and the hostname, keep DHCP clients running."""
    from rancheros.network.spec import parse_network
    from rancheros.network.up import network_up
    log.setup(tag="network", syslog=True)
    doc = config.load(paths)
    host = config.get(doc, "hostname") or config.get(doc, "rancher.hostname")
    network_up(parse_network(config.get(doc, "rancher.network")), host, root, netns, supervise=not once)


@network.command("dhcp-event", hidden=True)
@click.argument("event")
@click.option("--root", default="/", type=click.Path(path_type=Path))
def dhcp_event(event: str, root: Path) -> None:
    """udhcpc's script: apply the lease described by its environment."""
    from rancheros.network.dhcp import handle_event
    from rancheros.network.links import Links
    log.setup(tag="network", syslog=True)
    with Links() as links:
        handle_event(event, dict(os.environ), links, root)


@network.command("ntp", hidden=True)
@click.pass_obj
def ntp(paths: config.ConfigPaths) -> None:
    """Run ntpd with rancher.network.ntp.servers (what the ntp service runs)."""
    from rancheros.network.ntp import exec_ntpd
    exec_ntpd(config.get(config.load(paths), "rancher.network.ntp.servers"))
