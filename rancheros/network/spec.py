"""What `rancher.network` asks for, parsed and checked before anything touches a link."""

import fnmatch
import ipaddress
from dataclasses import dataclass, field, replace

from rancheros.config.keys import strings
from rancheros.errors import ConfigError

KEY = "rancher.network.interfaces"
DHCP_BY_DEFAULT = ("eth*", "en*")


@dataclass(frozen=True)
class InterfaceConfig:
    """One interface's wanted state: DHCP and/or static addresses, gateway, MTU."""

    name: str
    dhcp: bool = False
    addresses: tuple[str, ...] = ()
    gateway: str | None = None
    mtu: int | None = None


@dataclass(frozen=True)
class NetworkConfig:
    """The whole `rancher.network` section in checked form."""

    interfaces: dict[str, InterfaceConfig] = field(default_factory=dict)
    nameservers: tuple[str, ...] = ()
    search: tuple[str, ...] = ()


def parse_network(net: dict | None) -> NetworkConfig:
    """Check `rancher.network`; errors name the key and what a valid value looks like."""
    net = net or {}
    if not isinstance(net, dict):
        raise ConfigError(f"rancher.network: expected a map, got {net!r}")
    ifaces = net.get("interfaces") or {}
    if not isinstance(ifaces, dict):
        raise ConfigError(f"{KEY}: expected a map of interface name or glob to settings, got {ifaces!r}")
    dns = net.get("dns") or {}
    if not isinstance(dns, dict):
        raise ConfigError(f"rancher.network.dns: expected a map with nameservers/search, got {dns!r}")
    return NetworkConfig(
        interfaces={str(k): _parse_interface(str(k), v) for k, v in ifaces.items()},
        nameservers=tuple(_ip(n, "rancher.network.dns.nameservers") for n in strings(dns.get("nameservers"), "rancher.network.dns.nameservers")),
        search=tuple(strings(dns.get("search"), "rancher.network.dns.search")),
    )


def _parse_interface(pattern: str, raw) -> InterfaceConfig:
    key = f"{KEY}.{pattern}"
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{key}: expected a map (dhcp, address, addresses, gateway, mtu), got {raw!r}")
    addresses = list(strings(raw.get("addresses"), f"{key}.addresses"))
    if raw.get("address"):
        addresses.insert(0, str(raw["address"]))
    mtu = raw.get("mtu")
    if mtu is not None and (isinstance(mtu, bool) or not isinstance(mtu, int) or not 68 <= mtu <= 65535):
        raise ConfigError(f"{key}.mtu: expected an integer from 68 to 65535, got {mtu!r}")
    dhcp = raw.get("dhcp", False)
    if not isinstance(dhcp, bool):
        raise ConfigError(f"{key}.dhcp: expected true or false, got {dhcp!r}")
    gateway = raw.get("gateway")
    return InterfaceConfig(
        name=pattern,
        dhcp=dhcp,
        addresses=tuple(_cidr(a, f"{key}.address") for a in addresses),
        gateway=_ip(gateway, f"{key}.gateway") if gateway else None,
        mtu=mtu,
    )


def _cidr(value: str, key: str) -> str:
    if "/" not in value:
        raise ConfigError(f"{key}: {value!r} lacks a prefix length (write it like 10.0.0.2/24)")
    try:
        return str(ipaddress.ip_interface(value))
    except ValueError:
        raise ConfigError(f"{key}: {value!r} is not an IP address with prefix (write it like 10.0.0.2/24)") from None


def _ip(value, key: str) -> str:
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        raise ConfigError(f"{key}: {value!r} is not an IP address") from None


def config_for(name: str, interfaces: dict[str, InterfaceConfig]) -> InterfaceConfig | None:
    """The settings for link `name`: an exact entry wins, then the most specific glob, then DHCP on eth*/en*."""
    if name in interfaces:
        return replace(interfaces[name], name=name)
    globs = [p for p in interfaces if fnmatch.fnmatchcase(name, p)]
    if globs:
        best = max(globs, key=lambda p: len(p.replace("*", "").replace("?", "")))
        return replace(interfaces[best], name=name)
    if any(fnmatch.fnmatchcase(name, p) for p in DHCP_BY_DEFAULT):
        return InterfaceConfig(name=name, dhcp=True)
    return None

