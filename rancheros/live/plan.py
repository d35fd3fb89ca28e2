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


def _dhcp_of(doc: dict) -> dict[str, bool]:
    interfaces = get(doc, "rancher.network.interfaces") or {}
    if not isinstance(interfaces, dict):
        return {}
    return {str(k): bool(isinstance(v, dict) and v.get("dhcp")) for k, v in interfaces.items()}


SSH_KEYS = ("rancher.ssh", "ssh_authorized_keys", "rancher.password")


def plan(old: dict, new: dict) -> Plan:
    """What changed between two effective configs, as the live apply needs to know it."""
    def changed(key: str) -> bool:
        return get(old, key) != get(new, key)

    host = hostname_of(new)
    return Plan(
        hostname=str(host) if host and host != hostname_of(old) else None,
        dns=changed("rancher.network.dns"),
        interfaces=changed("rancher.network.interfaces"),
        dhcp=_dhcp_of(old) != _dhcp_of(new),
        ssh=any(changed(k) for k in SSH_KEYS),
    )
