"""Which running parts a config change touches: pure, from the effective config before and after."""

from __future__ import annotations

from dataclasses import dataclass

from rancheros.config import get


@dataclass(frozen=True)
class Plan:
    """The subsystems outside the service definitions that a change reaches (services: the engine's hashes)."""

    hostname: str | None = None   # the new name, when it changed
    dns: bool = False
    interfaces: bool = False
    dhcp: bool = False            # which interfaces run DHCP changed: the network service restarts
    ssh: bool = False

    @property
    def network(self) -> bool:
        """The network service re-applies hostname, DNS and links."""
        return bool(self.hostname) or self.dns or self.interfaces


def hostname_of(doc: dict) -> str | None:
    """The hostname the network service sets: cloud-config's `hostname`, else `rancher.hostname`."""
    return get(doc, "hostname") or get(doc, "rancher.hostname")


def dhcp_links(doc: dict, links: list[str]) -> set[str] | None:
    """The links of `links` that run DHCP under `doc` (exact entries, globs and the eth*/en* default);
    None when its rancher.network does not parse."""
    from rancheros.errors import ConfigError
    from rancheros.network.spec import config_for, parse_network

    try:
        interfaces = parse_network(get(doc, "rancher.network")).interfaces
    except ConfigError:
        return None
    return {n for n in links if (c := config_for(n, interfaces)) is not None and c.dhcp}


SSH_KEYS = ("rancher.ssh", "ssh_authorized_keys", "rancher.password")


def plan(old: dict, new: dict, links: list[str] = ()) -> Plan:
    """What changed between two effective configs on a machine with network interfaces `links`."""
    def changed(key: str) -> bool:
        return get(old, key) != get(new, key)

    host = hostname_of(new)
    return Plan(
        hostname=str(host) if host and host != hostname_of(old) else None,
        dns=changed("rancher.network.dns"),
        interfaces=changed("rancher.network.interfaces"),
        dhcp=changed("rancher.network.interfaces") and dhcp_links(old, links) != dhcp_links(new, links),
        ssh=any(changed(k) for k in SSH_KEYS),
    )
