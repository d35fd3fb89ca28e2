"""`ros network up`: static settings first, then one udhcpc per DHCP interface, supervised."""

import logging
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from rancheros.network import dhcp, hostname, resolv
from rancheros.errors import RosError
from rancheros.network.links import Links, NetworkError
from rancheros.network.spec import InterfaceConfig, NetworkConfig, config_for

log = logging.getLogger(__name__)


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


def configure(net: NetworkConfig, links: Links, root: Path) -> list[str]:
    """Apply every static setting, write resolv.conf; return the interfaces that want DHCP.

    A failing interface is logged and skipped so the others still come up.
    """
    dhcp.save_wanted(root, net)
    wanted_dhcp = []
    for cfg in plan(links.names(), net):
        try:
            apply_static(links, cfg)
        except NetworkError as e:
            log.error("%s", e)
            continue
        if cfg.dhcp:
            wanted_dhcp.append(cfg.name)
    resolv.write(root, dhcp.render_resolv(net, dhcp.leases(root)))
    return wanted_dhcp


def _netns_prefix(netns: str | None) -> list[str]:
    return ["ip", "netns", "exec", netns] if netns else []


def dhcp_once(ifname: str, root: Path, netns: str | None = None, host: str | None = None) -> None:
    """Get one lease for `ifname` and apply it; raises NetworkError naming the interface when none comes."""
    hook = dhcp.write_hook(root)
    argv = _netns_prefix(netns) + dhcp.udhcpc_argv(ifname, hook, host, once=True)
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise NetworkError(f"{ifname}: no DHCP lease ({'; '.join(tail) or f'udhcpc exit {done.returncode}'})")


@dataclass
class DhcpSupervisor:
    """Keeps one foreground udhcpc per interface alive until told to stop."""

    ifnames: list[str]
    root: Path
    netns: str | None = None
    host: str | None = None
    respawn_delay: float = 2.0
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    stopping: bool = False

    def start(self, ifname: str) -> None:
        hook = dhcp.write_hook(self.root)
        argv = _netns_prefix(self.netns) + dhcp.udhcpc_argv(ifname, hook, self.host)
        self.procs[ifname] = subprocess.Popen(argv)
        log.info("%s: DHCP client started (pid %d)", ifname, self.procs[ifname].pid)

    def run(self) -> None:
        """Start the clients and respawn any that exits, until SIGTERM/SIGINT."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop())
        for name in self.ifnames:
            self.start(name)
        while not self.stopping:
            time.sleep(0.5)
            for name, proc in list(self.procs.items()):
                if proc.poll() is not None and not self.stopping:
                    log.warning("%s: DHCP client exited with %s; restarting", name, proc.returncode)
                    time.sleep(self.respawn_delay)
                    self.start(name)

    def stop(self) -> None:
        self.stopping = True
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()


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
        DhcpSupervisor(wanted, root, netns, host).run()
    return wanted
