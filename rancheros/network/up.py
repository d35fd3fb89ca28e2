"""`ros network up`: static settings first, then one udhcpc per DHCP interface, supervised."""

import json
import logging
from pathlib import Path

from rancheros.system.respawn import Respawner
from rancheros.errors import RosError
from rancheros.network import dhcp, hostname, resolv
from rancheros.network.files import write_shared
from rancheros.network.links import Links, NetworkError
from rancheros.network.spec import InterfaceConfig, NetworkConfig, config_for

log = logging.getLogger(__name__)
EVENT_POLL = 0.2  # seconds between looks for udhcpc events


def plan(link_names: list[str], net: NetworkConfig) -> list[InterfaceConfig]:
    """The settings of each present link that config (or the eth*/en* DHCP default) covers."""
    return [c for c in (config_for(n, net.interfaces) for n in link_names) if c is not None]


def apply_static(links: Links, cfg: InterfaceConfig) -> None:
    """MTU, link up, static addresses and gateway of one interface."""
    links.up(cfg.name, cfg.mtu)
    for cidr in cfg.addresses:
        links.add_address(cfg.name, cidr)
    if cfg.gateway:
        links.default_route(cfg.name, cfg.gateway)
    if cfg.addresses or cfg.mtu or cfg.gateway:
        log.info("%s: %s", cfg.name, " ".join(filter(None, [
            ",".join(cfg.addresses), cfg.gateway and f"via {cfg.gateway}", cfg.mtu and f"mtu {cfg.mtu}"])))


APPLIED = dhcp.STATE_DIR / "static.json"  # the static addresses and gateways this service last applied


def stale(applied: dict[str, dict], wanted: list[InterfaceConfig]) -> dict[str, dict]:
    """What an earlier configure applied that the config no longer asks for: {ifname: {addresses, gateway}}."""
    now = {c.name: c for c in wanted}
    out = {}
    for name, was in applied.items():
        cfg = now.get(name, InterfaceConfig(name))
        gone = [a for a in was.get("addresses", []) if a not in cfg.addresses]
        gateway = was.get("gateway") if was.get("gateway") not in (None, cfg.gateway) else None
        if gone or gateway:
            out[name] = {"addresses": gone, "gateway": gateway}
    return out


def _read_applied(root: Path) -> dict[str, dict]:
    try:
        data = json.loads((Path(root) / APPLIED).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remove_stale(links: Links, root: Path, wanted: list[InterfaceConfig]) -> None:
    """Addresses and default routes removed from the config leave their links (a lease's address stays)."""
    held = {lease.interface: lease.address for lease in dhcp.leases(root)}
    for name, gone in stale(_read_applied(root), wanted).items():
        try:
            for cidr in gone["addresses"]:
                if cidr != held.get(name) and cidr in links.addresses(name):
                    links.remove_address(name, cidr)
                    log.info("%s: address %s removed", name, cidr)
            if gone["gateway"]:
                links.remove_default_route(name, gone["gateway"])
                log.info("%s: default route via %s removed", name, gone["gateway"])
        except NetworkError as e:
            log.error("%s", e)


def configure(net: NetworkConfig, links: Links, root: Path) -> list[str]:
    """Apply every static setting, remove those the config dropped, write resolv.conf; return the
    interfaces that want DHCP.

    A failing interface is logged and skipped so the others still come up.
    """
    dhcp.save_wanted(root, net)
    wanted = plan(links.names(), net)
    remove_stale(links, root, wanted)
    wanted_dhcp, applied = [], {}
    for cfg in wanted:
        try:
            if not cfg.dhcp:   # DHCP turned off (`ros config set`): its lease goes first,
                dhcp.drop_lease(links, root, cfg)   # as deleting a primary address deletes its secondaries
            apply_static(links, cfg)
        except NetworkError as e:
            log.error("%s", e)
            continue
        if cfg.addresses or cfg.gateway:
            applied[cfg.name] = {"addresses": list(cfg.addresses), "gateway": cfg.gateway}
        if cfg.dhcp:
            wanted_dhcp.append(cfg.name)
    write_shared(Path(root) / APPLIED, json.dumps(applied, indent=1), 0o644)
    resolv.write(root, dhcp.render_resolv(net, dhcp.leases(root)))
    return wanted_dhcp


def _netns_prefix(netns: str | None) -> list[str]:
    return ["ip", "netns", "exec", netns] if netns else []


def dhcp_clients(ifnames: list[str], root: Path, netns: str | None = None,
                 host: str | None = None) -> Respawner:
    """One foreground udhcpc per interface, respawned when it exits; the loop applies their events."""
    hook = dhcp.write_hook(root)
    return Respawner({f"udhcpc {n}": _netns_prefix(netns) + dhcp.udhcpc_argv(n, hook, host) for n in ifnames},
                     tick=lambda: dhcp.apply_events(root, netns), tick_every=EVENT_POLL)


def network_up(net: NetworkConfig, host: str | None, root: Path, netns: str | None = None,
               supervise: bool = True) -> list[str]:
    """The network service's whole job: hostname, links, resolv.conf, then DHCP clients."""
    if host and not netns:
        try:
            hostname.apply(host, root)
        except (OSError, RosError) as e:
            log.error("hostname %s: %s", host, e)
    with Links(netns) as links:
        wanted = configure(net, links, root)
    if supervise:
        dhcp.open_events(root)
        try:
            dhcp_clients(wanted, root, netns, host).run()  # with none it idles, so `restart: always` rests
        finally:
            dhcp.close_events(root)
    return wanted
