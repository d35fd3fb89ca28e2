"""`ros network up` against real links: network namespaces we create, a real DHCP server (busybox udhcpd)."""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rancheros.network.links import Links, NetworkError

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("busybox"), reason="needs root and busybox"),
]
TAG = f"t5n{os.getpid() % 100000}"


def sh(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def netns_pair(tmp_path_factory):
    """Server namespace with udhcpd on 10.77.0.1, client namespace whose eth0 is the veth peer and eth1 a spare veth."""
    srv, cli = f"{TAG}s", f"{TAG}c"
    tmp = tmp_path_factory.mktemp("dhcpd")
    sh("ip", "netns", "add", srv)
    sh("ip", "netns", "add", cli)
    try:
        sh("ip", "link", "add", f"{TAG}a", "netns", srv, "type", "veth", "peer", "name", "eth0", "netns", cli)
        sh("ip", "-n", cli, "link", "add", "eth1", "type", "veth", "peer", "name", "spare1")
        sh("ip", "-n", srv, "addr", "add", "10.77.0.1/24", "dev", f"{TAG}a")
        sh("ip", "-n", srv, "link", "set", f"{TAG}a", "up")
        (tmp / "leases").write_text("")
        conf = tmp / "udhcpd.conf"
        conf.write_text(f"start 10.77.0.100\nend 10.77.0.110\ninterface {TAG}a\n"
                        f"lease_file {tmp}/leases\npidfile {tmp}/udhcpd.pid\n"
                        "option subnet 255.255.255.0\noption router 10.77.0.1\n"
                        "option dns 10.77.0.53\noption domain test.lan\noption lease 600\n")
        server = subprocess.Popen(["ip", "netns", "exec", srv, "busybox", "udhcpd", "-f", str(conf)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        yield cli
        server.terminate()
        server.wait(timeout=10)
    finally:
        subprocess.run(["ip", "netns", "del", srv])
        subprocess.run(["ip", "netns", "del", cli])


def ros_env(tmp_path: Path, cloud_config: str) -> dict:
    conf = tmp_path / "conf"
    conf.mkdir(parents=True)
    (conf / "cloud-config.yml").write_text(cloud_config)
    (tmp_path / "cmdline").write_text("")
    return dict(os.environ, ROS_CONFIG_DIR=str(conf), ROS_CMDLINE=str(tmp_path / "cmdline"),
                ROS_IMAGE_CONFIG=str(tmp_path / "none.yml"))


ROS = [sys.executable, "-m", "rancheros", "ros"]


def _wait_for(lease: Path, proc: subprocess.Popen, timeout: float = 30) -> None:
    """Until `ros network up` has written `lease` (or exited)."""
    deadline = time.monotonic() + timeout
    while not lease.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.25)


def test_static_address_mtu_gateway_and_dns_applied(netns_pair, tmp_path):
    env = ros_env(tmp_path, """
rancher:
  network:
    dns: {nameservers: [10.1.1.1, 10.1.1.2], search: [corp.example]}
    interfaces:
      eth0: {dhcp: false}
      eth1: {address: 10.88.0.5/24, gateway: 10.88.0.1, mtu: 1400}
""")
    root = tmp_path / "root"
    done = subprocess.run(ROS + ["network", "up", "--once", "--root", str(root), "--netns", netns_pair],
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    eth1 = sh("ip", "-n", netns_pair, "addr", "show", "eth1")
    assert "inet 10.88.0.5/24" in eth1 and "mtu 1400" in eth1 and "UP" in eth1.split("\n")[0]
    assert "default via 10.88.0.1 dev eth1" in sh("ip", "-n", netns_pair, "route")
    assert "inet 127.0.0.1/8" in sh("ip", "-n", netns_pair, "addr", "show", "lo")
    assert (root / "etc/resolv.conf").read_text().splitlines()[1:] == [
        "search corp.example", "nameserver 10.1.1.1", "nameserver 10.1.1.2"]


def test_netlink_error_names_the_interface(netns_pair):
    with Links(netns_pair) as links:
        with pytest.raises(NetworkError, match=r"eth1: cannot set default route via 10\.99\.0\.1: "
                           r"(Network is unreachable|Nexthop has invalid gateway)"):
            links.default_route("eth1", "10.99.0.1")
        with pytest.raises(NetworkError, match="nosuch0: no such network interface"):
            links.up("nosuch0")


def test_dhcp_lease_from_real_server_is_applied(netns_pair, tmp_path):
    env = ros_env(tmp_path, "rancher:\n  network:\n    dns: {nameservers: [10.1.1.1]}\n")
    root = tmp_path / "root"
    proc = subprocess.Popen(ROS + ["network", "up", "--root", str(root), "--netns", netns_pair],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lease = root / "run/rancheros/network/eth0.lease"
    try:
        _wait_for(lease, proc)
    finally:
        proc.terminate()
        out = proc.communicate(timeout=20)[0]
    assert lease.exists(), out
    eth0 = sh("ip", "-n", netns_pair, "addr", "show", "eth0")
    assert re.search(r"inet 10\.77\.0\.1(0\d|10)/24 ", eth0), eth0
    assert "default via 10.77.0.1 dev eth0" in sh("ip", "-n", netns_pair, "route")
    resolv = (root / "etc/resolv.conf").read_text()
    assert "nameserver 10.1.1.1\nnameserver 10.77.0.53\n" in resolv and "search test.lan" in resolv
    assert re.search(r"eth0: DHCP bound 10\.77\.0\.1(0\d|10)/24 via 10\.77\.0\.1", out), out


def test_dhcp_turned_off_drops_the_lease_and_keeps_the_static_address(netns_pair, tmp_path):
    """A lease from a real server, then the config says dhcp: false + an address and the service
    restarts (Vagrant's private network): only the configured address stays, and the lease file goes."""
    root = tmp_path / "root"
    lease = root / "run/rancheros/network/eth0.lease"
    proc = subprocess.Popen(ROS + ["network", "up", "--root", str(root), "--netns", netns_pair],
                            env=ros_env(tmp_path / "a", ""), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        _wait_for(lease, proc)
    finally:
        # as a service restart's SIGKILL of the container would: no release, the address stays behind
        for pid in [proc.pid, *map(int, sh("ip", "netns", "pids", netns_pair).split())]:
            os.kill(pid, 9)
        out = proc.communicate(timeout=20)[0]
    assert lease.exists(), out
    leased = re.search(r"inet (10\.77\.0\.\d+/24) ", sh("ip", "-n", netns_pair, "addr", "show", "eth0")).group(1)
    env = ros_env(tmp_path / "b", "rancher:\n  network:\n    interfaces:\n      eth0: {dhcp: false, address: 10.77.0.250/24}\n")
    done = subprocess.run(ROS + ["network", "up", "--once", "--root", str(root), "--netns", netns_pair],
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    eth0 = sh("ip", "-n", netns_pair, "addr", "show", "eth0")
    assert "inet 10.77.0.250/24" in eth0 and f"inet {leased} " not in eth0, (eth0, done.stdout, done.stderr)
    assert not lease.exists()
