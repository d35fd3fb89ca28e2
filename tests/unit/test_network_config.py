"""rancher.network parsing, interface matching, resolv.conf rendering and DHCP lease parsing: pure logic."""

import contextlib
import subprocess
import time

import pytest

from rancheros.errors import ConfigError
from rancheros.network import dhcp, resolv
from rancheros.network.files import write_shared
from rancheros.system import mountinfo
from rancheros.network.spec import InterfaceConfig, config_for, parse_network
from rancheros.network.up import plan


def test_defaults_parse_and_cover_eth_and_lo():
    net = parse_network({"dns": {"nameservers": ["10.0.2.3"]},
                         "interfaces": {"eth*": {"dhcp": True}, "lo": {"address": "127.0.0.1/8"}}})
    assert plan(["lo", "eth0", "eth1", "docker0"], net) == [
        InterfaceConfig("lo", addresses=("127.0.0.1/8",)), InterfaceConfig("eth0", dhcp=True),
        InterfaceConfig("eth1", dhcp=True)]


def test_exact_name_beats_glob_and_specific_glob_beats_general():
    net = parse_network({"interfaces": {"eth*": {"dhcp": True}, "eth1": {"address": "10.0.0.2/24", "mtu": 1400},
                                        "ens*": {"dhcp": False}, "ens3*": {"address": "10.3.0.2/24"}}})
    assert config_for("eth1", net.interfaces) == InterfaceConfig("eth1", addresses=("10.0.0.2/24",), mtu=1400)
    assert config_for("eth2", net.interfaces).dhcp is True
    assert config_for("ens33", net.interfaces).addresses == ("10.3.0.2/24",)


def test_dhcp_by_default_on_eth_and_en_only():
    assert config_for("enp0s3", {}) == InterfaceConfig("enp0s3", dhcp=True)
    assert config_for("wlan0", {}) is None


def test_address_and_addresses_and_gateway():
    net = parse_network({"interfaces": {"eth1": {"address": "10.0.0.2/24", "addresses": ["fd00::2/64"],
                                                 "gateway": "10.0.0.1"}}})
    assert net.interfaces["eth1"].addresses == ("10.0.0.2/24", "fd00::2/64")
    assert net.interfaces["eth1"].gateway == "10.0.0.1"


@pytest.mark.parametrize("raw,message", [
    ({"interfaces": {"eth1": {"address": "10.0.0.300/24"}}}, r"interfaces\.eth1\.address: '10\.0\.0\.300/24' is not"),
    ({"interfaces": {"eth1": {"address": "10.0.0.3"}}}, r"eth1\.address: '10\.0\.0\.3' lacks a prefix length"),
    ({"interfaces": {"eth1": {"mtu": 10}}}, r"eth1\.mtu: expected an integer from 68 to 65535"),
    ({"interfaces": {"eth1": {"dhcp": "yes"}}}, r"eth1\.dhcp: expected true or false"),
    ({"interfaces": {"eth1": {"gateway": "router"}}}, r"eth1\.gateway: 'router' is not an IP address"),
    ({"dns": {"nameservers": ["dns.example"]}}, r"dns\.nameservers: 'dns\.example' is not an IP address"),
    ({"interfaces": ["eth0"]}, r"rancher\.network\.interfaces: expected a map"),
])
def test_bad_values_name_the_key(raw, message):
    with pytest.raises(ConfigError, match=message):
        parse_network(raw)


def test_resolv_conf_dedups_orders_and_caps_at_three():
    text = resolv.render(["1.1.1.1", "8.8.8.8", "1.1.1.1", "9.9.9.9", "4.4.4.4"], ["a.example", "a.example"])
    assert text.splitlines()[1:] == ["search a.example", "nameserver 1.1.1.1", "nameserver 8.8.8.8",
                                     "nameserver 9.9.9.9"]


def test_lease_from_udhcpc_environment():
    lease = dhcp.parse_lease({"interface": "eth0", "ip": "10.0.2.15", "mask": "24", "router": "10.0.2.2 10.0.2.1",
                              "dns": "10.0.2.3", "domain": "lan", "mtu": "1400"})
    assert lease == dhcp.Lease("eth0", "10.0.2.15/24", ("10.0.2.2", "10.0.2.1"), ("10.0.2.3",), ("lan",), 1400)
    assert dhcp.parse_lease({"interface": "eth0", "ip": "10.0.2.15", "subnet": "255.255.0.0"}).address == "10.0.2.15/16"


def test_lease_without_ip_names_the_interface():
    with pytest.raises(dhcp.NetworkError, match="eth3: DHCP lease without"):
        dhcp.parse_lease({"interface": "eth3"})


def test_configured_nameservers_come_before_dhcp_ones():
    net = parse_network({"dns": {"nameservers": ["1.1.1.1"]}})
    text = dhcp.render_resolv(net, [dhcp.Lease("eth0", "10.0.2.15/24", dns=("10.0.2.3",), search=("lan",))])
    assert text.splitlines()[1:] == ["search lan", "nameserver 1.1.1.1", "nameserver 10.0.2.3"]


def test_wanted_config_round_trips_through_the_state_dir(tmp_path):
    net = parse_network({"dns": {"nameservers": ["1.1.1.1"], "search": ["x"]},
                         "interfaces": {"eth1": {"address": "10.0.0.2/24", "mtu": 1400}}})
    dhcp.save_wanted(tmp_path, net)
    assert dhcp.load_wanted(tmp_path) == net


UDHCPC_ENV = {"interface": "eth0", "ip": "10.0.2.15", "mask": "24", "router": "10.0.2.2", "PATH": "/usr/bin:/bin"}


def _run_hook(tmp_path, monkeypatch, event="bound", wait=None):
    """Run the real hook script with /bin/echo standing in for `ros`, so a fallback prints its argv."""
    monkeypatch.setattr(dhcp, "ros_command", lambda: ["/bin/echo", "ros"])
    if wait is not None:
        monkeypatch.setattr(dhcp, "HANDOFF_WAIT", wait)
    hook = dhcp.write_hook(tmp_path)
    assert hook.stat().st_mode & 0o111
    return subprocess.Popen([str(hook), event], env=UDHCPC_ENV, stdout=subprocess.PIPE, text=True)


def test_hook_hands_its_event_to_the_running_supervisor(tmp_path, monkeypatch):
    dhcp.open_events(tmp_path)
    proc = _run_hook(tmp_path, monkeypatch)
    taken = []
    for _ in range(100):
        taken += dhcp.take_events(tmp_path)
        if taken:
            break
        time.sleep(0.05)
    assert proc.wait(timeout=10) == 0 and proc.stdout.read() == ""  # no ros of its own
    (event, env), = taken
    assert event == "bound" and dhcp.parse_lease(env) == dhcp.Lease("eth0", "10.0.2.15/24", ("10.0.2.2",))
    assert not list((tmp_path / dhcp.EVENTS_DIR).iterdir())


def test_hook_applies_the_event_itself_without_a_supervisor(tmp_path, monkeypatch):
    proc = _run_hook(tmp_path, monkeypatch, "deconfig")
    assert proc.wait(timeout=10) == 0
    assert proc.stdout.read() == f"ros network dhcp-event --root {tmp_path} deconfig\n"


def test_hook_takes_its_event_back_when_nobody_picks_it_up(tmp_path, monkeypatch):
    dhcp.open_events(tmp_path)  # a supervisor that hangs: the directory is there, nobody takes events
    proc = _run_hook(tmp_path, monkeypatch, "renew", wait=3)
    assert proc.wait(timeout=10) == 0 and proc.stdout.read().endswith("dhcp-event --root " + f"{tmp_path} renew\n")
    assert dhcp.take_events(tmp_path) == [] and not list((tmp_path / dhcp.EVENTS_DIR).iterdir())


def test_env_output_parses_and_skips_continuation_lines():
    assert dhcp.parse_env("a=1\nb=x=y\ncontinued line\nc=\n") == {"a": "1", "b": "x=y", "c": ""}


def test_a_failing_event_is_logged_and_the_rest_still_apply(tmp_path, monkeypatch, caplog):
    dhcp.open_events(tmp_path)
    events = tmp_path / dhcp.EVENTS_DIR
    (events / "eth0.event").write_text("udhcpc_event=bound\ninterface=eth0\n")  # no ip: a bad lease
    (events / "eth1.event").write_text("udhcpc_event=leasefail\ninterface=eth1\n")
    monkeypatch.setattr(dhcp, "Links", lambda netns=None: contextlib.nullcontext())
    dhcp.apply_events(tmp_path)
    assert "eth0: DHCP bound: eth0: DHCP lease without interface or ip" in caplog.text
    assert "eth1: DHCP leasefail" in caplog.text and not list(events.iterdir())


def test_write_shared_replaces_whole_file(tmp_path):
    path = tmp_path / "etc/resolv.conf"
    write_shared(path, "nameserver 1.1.1.1\n")
    write_shared(path, "nameserver 8.8.8.8\n")
    assert path.read_text() == "nameserver 8.8.8.8\n"
    assert [p.name for p in path.parent.iterdir()] == ["resolv.conf"]


def test_mount_points_decode_mountinfo_escapes():
    info = "36 35 98:0 / /mnt/a\\040b rw - ext4 /dev/x rw\n37 35 98:0 /x /etc/resolv.conf rw - ext4 /dev/x rw\n"
    assert {m.target for m in mountinfo.parse(info)} == {"/mnt/a b", "/etc/resolv.conf"}


def test_ip_output_is_read_from_busybox_and_iproute2_alike():
    """Captured from busybox 1.35 (the images' `ip`) and iproute2 6.1 (a host's)."""
    from rancheros.network.links import parse_addresses, parse_link_names
    busybox_links = ("1: lo: <LOOPBACK> mtu 65536 qdisc noop qlen 1000\\    link/loopback 00:00:00:00:00:00\n"
                     "2: d1@d0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue qlen 1000\\    link/ether\n"
                     "3: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1400 qdisc noqueue qlen 1000\\    link/ether\n")
    iproute_links = "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT\\    link\n"
    assert parse_link_names(busybox_links) == ["lo", "d1", "eth0"]
    assert parse_link_names(iproute_links) == ["lo"]
    addrs = ("3: d0    inet 10.5.0.2/24 scope global d0\\       valid_lft forever preferred_lft forever\n"
             "3: d0    inet 10.5.0.9/24 brd 10.5.0.255 scope global secondary d0\\       valid_lft forever\n"
             "3: d0    inet6 fe80::349f:acff:fe6c:96c9/64 scope link tentative \\       valid_lft forever\n")
    assert parse_addresses(addrs) == ["10.5.0.2/24", "10.5.0.9/24", "fe80::349f:acff:fe6c:96c9/64"]
    assert parse_addresses("") == []
