"""Links, addresses and routes through `ip` (busybox's in the images, iproute2's on a host); errors name
the interface.

`ip` and not a netlink library: pyroute2's import alone took the network service's start from 5 to 12 s
on a one-CPU TCG guest, on the way to SSH, and kept 15 MB more resident for the life of the service.
"""

from __future__ import annotations

import ipaddress
import logging
import re

from rancheros.errors import CommandError, RosError
from rancheros.system.command import CommandFailed, output

log = logging.getLogger(__name__)
IP_TIMEOUT = 15.0
_LINK = re.compile(r"^\d+:\s+([^\s:@]+)[@:]")


class NetworkError(RosError):
    """A link cannot be configured; the message names the interface and the step."""


def parse_link_names(text: str) -> list[str]:
    """Names from `ip -o link show` (busybox or iproute2; a veth's `@peer` dropped), in index order."""
    return [m.group(1) for m in map(_LINK.match, text.splitlines()) if m]


def parse_addresses(text: str) -> list[str]:
    """CIDRs from `ip -o addr show dev X`: the word after each `inet`/`inet6`."""
    found = []
    for line in text.splitlines():
        words = line.split()
        for i, word in enumerate(words[:-1]):
            if word in ("inet", "inet6") and "/" in words[i + 1]:
                found.append(words[i + 1])
    return found


class Links:
    """`ip` commands, optionally inside a named network namespace (tests create their own)."""

    def __init__(self, netns: str | None = None):
        self._prefix = ["ip", "netns", "exec", netns, "ip"] if netns else ["ip"]

    def close(self) -> None:
        """Nothing held open between commands; kept so callers use `with Links() as links`."""

    def __enter__(self) -> "Links":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _run(self, args: list[str], subject: str, what: str) -> str:
        try:
            return output(self._prefix + args, f"ip {' '.join(args)}", timeout=IP_TIMEOUT)
        except CommandFailed as e:
            reason = e.done.said.rsplit(": ", 1)[-1].removeprefix("ip: ").removeprefix("RTNETLINK answers: ")
            raise NetworkError(f"{subject}: cannot {what}: {reason}") from None
        except CommandError as e:
            raise NetworkError(f"{subject}: cannot {what}: {e}") from None

    def _ip(self, args: list[str], ifname: str, what: str) -> str:
        """One `ip` command on `ifname`; only when it fails are the links listed, to name a missing one."""
        try:
            return self._run(args, ifname, what)
        except NetworkError:
            names = self.names()
            if ifname not in names:
                raise NetworkError(f"{ifname}: no such network interface (have: {', '.join(names)})") from None
            raise

    def names(self) -> list[str]:
        """Every link's name, in kernel index order."""
        return parse_link_names(self._run(["-o", "link", "show"], "links", "list the network interfaces"))

    def up(self, ifname: str, mtu: int | None = None) -> None:
        """Bring the link up, setting its MTU first when one is asked for."""
        if mtu:
            self._ip(["link", "set", "dev", ifname, "mtu", str(mtu)], ifname, f"set mtu {mtu}")
        self._ip(["link", "set", "dev", ifname, "up"], ifname, "bring the link up")

    def addresses(self, ifname: str, version: int | None = None) -> list[str]:
        """The link's addresses as CIDR strings, of IP `version` 4 or 6 only when given."""
        flag = [f"-{version}"] if version else []
        return parse_addresses(self._ip(flag + ["-o", "addr", "show", "dev", ifname], ifname, "list its addresses"))

    def add_address(self, ifname: str, cidr: str) -> None:
        """Add an address; one that is already there is left alone."""
        if cidr in {str(ipaddress.ip_interface(a)) for a in self.addresses(ifname)}:
            return
        iface = ipaddress.ip_interface(cidr)
        self._ip(["addr", "add", str(iface), "dev", ifname], ifname, f"add address {cidr}")

    def remove_address(self, ifname: str, cidr: str) -> None:
        iface = ipaddress.ip_interface(cidr)
        self._ip(["addr", "del", str(iface), "dev", ifname], ifname, f"remove address {cidr}")

    def flush_ipv4(self, ifname: str, keep: set[str] = frozenset()) -> None:
        """Remove the IPv4 addresses not in `keep` (a DHCP lease replaces the previous one)."""
        for cidr in self.addresses(ifname, version=4):
            if cidr not in keep:
                self.remove_address(ifname, cidr)

    def default_route(self, ifname: str, gateway: str) -> None:
        """Point the default route of the gateway's family at `gateway` through this link."""
        family = "-4" if ipaddress.ip_address(gateway).version == 4 else "-6"
        self._ip([family, "route", "replace", "default", "via", gateway, "dev", ifname], ifname,
                 f"set default route via {gateway}")

    def remove_default_route(self, ifname: str, gateway: str) -> None:
        """Remove the default route via `gateway` on this link; one already gone is no error."""
        family = "-4" if ipaddress.ip_address(gateway).version == 4 else "-6"
        routes = self._ip([family, "route", "show", "dev", ifname], ifname, "list its routes")
        if not any(line.split()[:3] == ["default", "via", gateway] for line in routes.splitlines()):
            return
        self._ip([family, "route", "del", "default", "via", gateway, "dev", ifname], ifname,
                 f"remove the default route via {gateway}")
