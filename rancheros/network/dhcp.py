"""DHCP through busybox `udhcpc`: its script hands each event to the running `ros network up`, which
applies the lease (a fresh `ros network dhcp-event` only when none picks it up)."""

import ipaddress
import json
import logging
import os
import shlex
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping

from rancheros.errors import RosError
from rancheros.network import resolv
from rancheros.network.files import write_shared
from rancheros.network.links import Links, NetworkError
from rancheros.network.spec import InterfaceConfig, NetworkConfig, config_for

log = logging.getLogger(__name__)
STATE_DIR = Path("run/rancheros/network")  # under the root prefix
EVENTS_DIR = STATE_DIR / "events"  # udhcpc events waiting for `ros network up`, one file per interface
HANDOFF_WAIT = 100  # tenths of a second the hook waits for the supervisor before applying itself

# Starting `ros` costs seconds on a slow guest, twice per lease (deconfig, bound); the supervisor is
# already running, so the hook leaves the event there and only falls back to a `ros` of its own.
HOOK = """#!/bin/sh
# udhcpc's script: hand event $1 to the running `ros network up`, else apply it with a new ros.
d={events}
f="$d/$interface"
if [ -d "$d" ]; then
    env > "$f.new" && echo "udhcpc_event=$1" >> "$f.new" && mv "$f.new" "$f.event"
    i=0
    while [ -e "$f.event" ] && [ "$i" -lt {wait} ]; do sleep 0.1; i=$((i + 1)); done
    mv "$f.event" "$f.own" 2>/dev/null || exit 0
    rm -f "$f.own"
fi
exec {ros} "$1"
"""


@dataclass(frozen=True)
class Lease:
    """What a DHCP server handed out for one interface (udhcpc's script environment)."""

    interface: str
    address: str
    routers: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    mtu: int | None = None


def parse_lease(env: Mapping[str, str]) -> Lease:
    """Read udhcpc's variables: interface, ip, mask (prefix bits) or subnet, router, dns, domain, search, mtu."""
    ifname = env.get("interface", "")
    if not ifname or not env.get("ip"):
        raise NetworkError(f"{ifname or '?'}: DHCP lease without interface or ip in the udhcpc environment")
    prefix = env.get("mask") or env.get("subnet") or "32"
    try:
        address = str(ipaddress.ip_interface(f"{env['ip']}/{prefix}"))
    except ValueError:
        raise NetworkError(f"{ifname}: DHCP lease has a bad address {env['ip']}/{prefix}") from None
    mtu = env.get("mtu", "")
    search = env.get("search", "").split() or env.get("domain", "").split()
    return Lease(ifname, address, tuple(env.get("router", "").split()), tuple(env.get("dns", "").split()),
                 tuple(search), int(mtu) if mtu.isdigit() else None)


def ros_command() -> list[str]:
    """How to run `ros` again from inside a child: the frozen binary, or this Python."""
    if getattr(sys, "frozen", False):
        exe = sys.executable
        return [exe] if os.path.basename(exe) == "ros" else [exe, "ros"]
    return [sys.executable, "-m", "rancheros", "ros"]


def write_hook(root: Path) -> Path:
    """The script udhcpc runs on each event (see HOOK); its events directory is made by `open_events`."""
    argv = ros_command() + ["network", "dhcp-event", "--root", str(root)]
    events = Path(root).absolute() / EVENTS_DIR
    path = Path(root) / STATE_DIR / "udhcpc-hook"
    write_shared(path, HOOK.format(events=shlex.quote(str(events)), wait=HANDOFF_WAIT, ros=shlex.join(argv)), 0o755)
    return path


def open_events(root: Path) -> None:
    """From now on hooks hand their events over; stale ones from an earlier run are dropped."""
    events = Path(root) / EVENTS_DIR
    close_events(root)
    events.mkdir(parents=True, exist_ok=True)


def close_events(root: Path) -> None:
    """Hooks apply their own events again (nobody is left to take them)."""
    shutil.rmtree(Path(root) / EVENTS_DIR, ignore_errors=True)


def parse_env(text: str) -> dict[str, str]:
    """`env` output as a dict; lines without `=` (the tail of a multi-line value) are skipped."""
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def take_events(root: Path) -> list[tuple[str, dict[str, str]]]:
    """Claim the waiting events (a rename, so a hook that gave up cannot apply the same one)."""
    taken = []
    for path in sorted((Path(root) / EVENTS_DIR).glob("*.event")):
        claimed = path.with_suffix(".taken")
        try:
            path.rename(claimed)
            env = parse_env(claimed.read_text())
            claimed.unlink()
        except OSError:
            continue
        taken.append((env.pop("udhcpc_event", ""), env))
    return taken


def apply_events(root: Path, netns: str | None = None) -> None:
    """Apply every waiting event; one that fails is logged, the others still apply."""
    for event, env in take_events(root):
        try:
            with Links(netns) as links:
                handle_event(event, env, links, root)
        except (RosError, OSError) as e:
            log.error("%s: DHCP %s: %s", env.get("interface", "?"), event, e)


def udhcpc_argv(ifname: str, hook: Path, hostname: str | None = None, once: bool = False) -> list[str]:
    """Foreground udhcpc for one interface; `once` quits after the first lease and fails without one."""
    exe = shutil.which("udhcpc")
    argv = [exe] if exe else [shutil.which("busybox") or "busybox", "udhcpc"]
    argv += ["-f", "-i", ifname, "-s", str(hook), "-t", "4", "-T", "2", "-A", "5"]
    if once:
        argv += ["-n", "-q"]
    if hostname:
        argv += ["-x", f"hostname:{hostname}"]
    return argv


def save_wanted(root: Path, net: NetworkConfig) -> None:
    """Snapshot the checked config for the hook, so a lease never needs the config store."""
    data = {"nameservers": list(net.nameservers), "search": list(net.search),
            "interfaces": {k: asdict(v) for k, v in net.interfaces.items()}}
    write_shared(Path(root) / STATE_DIR / "wanted.json", json.dumps(data, indent=1), 0o644)


def load_wanted(root: Path) -> NetworkConfig:
    path = Path(root) / STATE_DIR / "wanted.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return NetworkConfig()
    ifaces = {k: InterfaceConfig(**{**v, "addresses": tuple(v["addresses"])}) for k, v in data["interfaces"].items()}
    return NetworkConfig(ifaces, tuple(data["nameservers"]), tuple(data["search"]))


def leases(root: Path) -> list[Lease]:
    """The leases currently held, one file per interface."""
    found = []
    for p in sorted((Path(root) / STATE_DIR).glob("*.lease")):
        try:
            d = json.loads(p.read_text())
            found.append(Lease(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}))
        except (OSError, ValueError, TypeError):
            log.warning("ignoring unreadable lease file %s", p)
    return found


def render_resolv(net: NetworkConfig, held: list[Lease]) -> str:
    """Configured nameservers first, then the ones DHCP gave; configured search wins."""
    servers = list(net.nameservers) + [ns for lease in held for ns in lease.dns]
    search = list(net.search) or [s for lease in held for s in lease.search]
    return resolv.render(servers, search)


def _lease_file(root: Path, ifname: str) -> Path:
    return Path(root) / STATE_DIR / f"{ifname}.lease"


def drop_lease(links: Links, root: Path, wanted: InterfaceConfig) -> None:
    """Forget an interface's lease: its address goes (the configured ones stay), and so does its file."""
    links.flush_ipv4(wanted.name, keep=set(wanted.addresses))
    _lease_file(root, wanted.name).unlink(missing_ok=True)


def handle_event(event: str, env: Mapping[str, str], links: Links, root: Path) -> Lease | None:
    """Apply one udhcpc event: deconfig clears the old lease, bound/renew apply the new one."""
    net = load_wanted(root)
    ifname = env.get("interface", "")
    wanted = config_for(ifname, net.interfaces) or InterfaceConfig(ifname, dhcp=True)
    if event == "deconfig":
        links.up(ifname, wanted.mtu)
        drop_lease(links, root, wanted)
        return None
    if event in ("leasefail", "nak"):
        log.warning("%s: DHCP %s", ifname, event)
        return None
    if event not in ("bound", "renew"):
        return None
    lease = parse_lease(env)
    links.up(ifname, wanted.mtu or lease.mtu)
    links.flush_ipv4(ifname, keep=set(wanted.addresses) | {lease.address})
    links.add_address(ifname, lease.address)
    if lease.routers and not wanted.gateway:
        links.default_route(ifname, lease.routers[0])
    write_shared(_lease_file(root, ifname), json.dumps(asdict(lease)), 0o644)
    resolv.write(root, render_resolv(net, leases(root)))
    log.info("%s: DHCP %s %s via %s", ifname, event, lease.address, ",".join(lease.routers) or "no router")
    return lease
