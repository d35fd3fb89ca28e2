"""Links, addresses and routes over netlink (pyroute2); errors name the interface."""

import ipaddress
import logging
import os
import socket
from contextlib import contextmanager

from pyroute2 import IPRoute, NetlinkError

from rancheros.errors import RosError

log = logging.getLogger(__name__)


class NetworkError(RosError):
    """A link cannot be configured; the message names the interface and the step."""


@contextmanager
def _step(ifname: str, what: str):
    try:
        yield
    except NetlinkError as e:
        raise NetworkError(f"{ifname}: cannot {what}: {os.strerror(e.code) if e.code else e}") from None


class Links:
    """One netlink socket, optionally inside a named network namespace (tests create their own)."""

    def __init__(self, netns: str | None = None):
        self._ipr = IPRoute(netns=netns) if netns else IPRoute()

    def close(self) -> None:
        self._ipr.close()

    def __enter__(self) -> "Links":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def names(self) -> list[str]:
        """Every link's name, in kernel index order."""
        return [link.get("ifname") for link in self._ipr.get_links()]

    def index(self, ifname: str) -> int:
        found = self._ipr.link_lookup(ifname=ifname)
        if not found:
            raise NetworkError(f"{ifname}: no such network interface (have: {', '.join(self.names())})")
        return found[0]

    def up(self, ifname: str, mtu: int | None = None) -> None:
        """Bring the link up, setting its MTU first when one is asked for."""
        idx = self.index(ifname)
        if mtu:
            with _step(ifname, f"set mtu {mtu}"):
                self._ipr.link("set", index=idx, mtu=mtu)
        with _step(ifname, "bring the link up"):
            self._ipr.link("set", index=idx, state="up")

    def addresses(self, ifname: str, family: int | None = None) -> list[str]:
        """The link's addresses as CIDR strings."""
        kw = {"index": self.index(ifname)}
        if family:
            kw["family"] = family
        return [f"{a.get('address')}/{a['prefixlen']}" for a in self._ipr.get_addr(**kw)]

    def add_address(self, ifname: str, cidr: str) -> None:
        """Add an address; one that is already there is left alone."""
        if cidr in {str(ipaddress.ip_interface(a)) for a in self.addresses(ifname)}:
            return
        iface = ipaddress.ip_interface(cidr)
        with _step(ifname, f"add address {cidr}"):
            self._ipr.addr("add", index=self.index(ifname), address=str(iface.ip),
                           prefixlen=iface.network.prefixlen)

    def remove_address(self, ifname: str, cidr: str) -> None:
        iface = ipaddress.ip_interface(cidr)
        with _step(ifname, f"remove address {cidr}"):
            self._ipr.addr("del", index=self.index(ifname), address=str(iface.ip),
                           prefixlen=iface.network.prefixlen)

    def flush_ipv4(self, ifname: str, keep: set[str] = frozenset()) -> None:
        """Remove the IPv4 addresses not in `keep` (a DHCP lease replaces the previous one)."""
        for cidr in self.addresses(ifname, family=socket.AF_INET):
            if cidr not in keep:
                self.remove_address(ifname, cidr)

    def default_route(self, ifname: str, gateway: str) -> None:
        """Point the default route of the gateway's family at `gateway` through this link."""
        dst = "0.0.0.0/0" if ipaddress.ip_address(gateway).version == 4 else "::/0"
        with _step(ifname, f"set default route via {gateway}"):
            self._ipr.route("replace", dst=dst, gateway=gateway, oif=self.index(ifname))
