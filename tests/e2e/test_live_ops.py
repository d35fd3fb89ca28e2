"""Issue 21 in QEMU (TCG): config changes apply without a reboot, `--try` reverts, crash loops are visible,
the boot has a trace. On the shared service machine (tests/e2e/machine.py), which it leaves as it found it:
nameservers, eth0's addresses, the SSH port and the services are put back at the end of each check.
"""

from __future__ import annotations

import json
import re
import time

import pytest

from machine import shared_machine, wait_until
from sshvm import Ssh

pytestmark = pytest.mark.e2e

NEW_PORT = 2200
SECOND = "10.0.2.100/24"   # a second address on eth0, in QEMU's user network beside the DHCP one


@pytest.fixture(scope="session")
def machine(artifacts, tmp_path_factory):
    m = shared_machine(artifacts, tmp_path_factory)
    yield m
    m.stop()


def eth0_addresses(ssh: Ssh) -> list[str]:
    out = ssh.out("sudo system-docker exec network ip -o -4 addr show dev eth0")
    return re.findall(r"inet (\S+)", out)


def test_nameservers_reach_resolv_conf_at_once(machine):
    ssh = machine.ssh
    before = ssh.out("sudo ros config get rancher.network.dns.nameservers")
    t0 = time.monotonic()
    out = ssh.out("sudo ros config set rancher.network.dns.nameservers '[9.9.9.9]'")
    assert "network: applied dns" in out, out
    wait_until(lambda: "nameserver 9.9.9.9" in ssh.out("cat /etc/resolv.conf"), 30, "9.9.9.9 in resolv.conf")
    print(f"nameserver in /etc/resolv.conf {time.monotonic() - t0:.1f}s after the set began")
    # every system container shares the file (a bind mount of the OS root's)
    assert "nameserver 9.9.9.9" in ssh.out("sudo system-docker exec docker cat /etc/resolv.conf")
    ssh.run("sudo ros config unset rancher.network.dns.nameservers")
    wait_until(lambda: "9.9.9.9" not in ssh.out("cat /etc/resolv.conf"), 30, "9.9.9.9 gone again")
    assert ssh.out("sudo ros config get rancher.network.dns.nameservers") == before


def test_a_second_static_address_comes_and_goes_without_a_reboot(machine):
    ssh = machine.ssh
    lease = [a for a in eth0_addresses(ssh) if a != SECOND]
    assert lease, "eth0 has no DHCP address"
    out = ssh.out(f"sudo ros config set rancher.network.interfaces.eth0 '{{dhcp: true, addresses: [{SECOND}]}}'")
    assert "network: applied interfaces" in out, out   # DHCP stays on for eth0: no restart of the service
    assert wait_until(lambda: SECOND in eth0_addresses(ssh), 30, f"{SECOND} on eth0")
    assert set(lease) <= set(eth0_addresses(ssh))
    ssh.run("sudo ros config unset rancher.network.interfaces.eth0")
    wait_until(lambda: SECOND not in eth0_addresses(ssh), 30, f"{SECOND} gone from eth0")
    assert set(lease) <= set(eth0_addresses(ssh)), "the DHCP address must stay"


def answers(ssh: Ssh) -> bool:
    return ssh.run("true", check=False, timeout=60).rc == 0


def test_an_ssh_port_on_trial_reverts_unless_confirmed(machine):
    old, new = machine.ssh, Ssh(machine.ports[NEW_PORT], machine.key)
    # Unconfirmed: the session that made the change lives on; the new port answers, then after 40 s 22 again.
    t0 = time.monotonic()
    done = old.run(f"sudo ros config set rancher.ssh.port {NEW_PORT} --try 40 && sleep 3 && echo session-alive")
    assert f"ssh: sshd reloaded: port {NEW_PORT}" in done.stdout and "session-alive" in done.stdout, done
    assert answers(new) and not answers(old)
    assert new.out("sudo ros config get rancher.ssh.port") == str(NEW_PORT)
    wait_until(lambda: answers(old), 120, "port 22 back after the trial's 40 s")
    took = time.monotonic() - t0
    assert took >= 37, f"reverted after {took:.0f}s, before its time"
    assert not answers(new)
    assert old.out("sudo ros config get rancher.ssh.port") == "22"
    print(f"unconfirmed trial: port 22 answered again {took:.0f}s after the set")

    # Confirmed over the new port: still there after the deadline.
    t0 = time.monotonic()
    old.run(f"sudo ros config set rancher.ssh.port {NEW_PORT} --try 30")
    assert "confirmed: ros config set rancher.ssh.port" in new.out("sudo ros config confirm")
    time.sleep(max(0, 40 - (time.monotonic() - t0)))
    assert answers(new) and not answers(old)
    assert "config-trial" not in new.out("sudo system-docker ps -a --format '{{.Names}}'")
    # back to 22 for the other tests, over the new port's own session
    assert "ssh: sshd reloaded: port 22" in new.out("sudo ros config set rancher.ssh.port 22")
    assert answers(old)


def test_a_service_that_exits_at_once_backs_off_visibly(machine):
    ssh = machine.ssh
    image = ssh.out("sudo ros config get rancher.services.network.image")
    mark = len(machine.vm.serial_text())
    crasher = (f"rancher:\n  services:\n    crasher:\n      image: {image}\n"
               "      command: [sh, -c, 'echo crashing; exit 3']\n      restart: always\n"
               "      labels: {io.rancher.os.essential: 'true'}\n")
    assert "service crasher: created" in ssh.out("sudo ros config merge", stdin=crasher.encode())
    time.sleep(10)
    s = json.loads(ssh.out("sudo ros service status crasher --json"))
    assert s["exit_code"] == 3 and s["restarts"] >= 4 and s["logs"][-1] == "crashing", s
    assert len(s["delays"]) >= 4 and all(b > a for a, b in zip(s["delays"], s["delays"][1:])), s["delays"]
    print(f"crasher: {s['restarts']} restarts, Docker's waits {s['delays']}")
    text = ssh.out("sudo ros service status crasher")
    assert "last exit:  status 3" in text and "backoff:" in text
    # the row: restarting between runs (or, for the few ms it runs, running), and how it last ended
    assert re.search(r"crasher +(restarting|running) +\d+ +status 3", ssh.out("sudo ros service status")), \
        "the summary row"
    # labelled essential: each restart is one console line, with Docker's rising wait
    said = re.findall(r"service crasher exited with status 3; Docker restarts it in ([\d.]+)s",
                      machine.vm.serial_text()[mark:])
    assert [float(w) for w in said[:3]] == [0.1, 0.2, 0.4], said
    assert "service crasher: removed" in ssh.out("sudo ros config unset rancher.services.crasher")


def test_boot_trace_holds_every_milestone_of_the_console(machine):
    from rancheros import boottrace

    doc = json.loads(machine.ssh.out("ros boot trace --json"))
    serial = machine.vm.serial_text()
    this_boot = serial[serial.rfind("rancheros: init started") - 12:]
    shown = boottrace.parse_serial(this_boot)
    traced = {(m["t"], m["message"]) for m in doc["milestones"]}
    missing = [f"[{m.t:.2f}] {m.message}" for m in shown if (m.t, m.message) not in traced]
    assert len(shown) > 15 and not missing, missing
    steps = [m["step"] for m in doc["milestones"]]
    for step in ("init started", "system-docker ready", "services up"):
        assert step in steps, steps
    assert doc["boot_id"] == machine.ssh.out("cat /proc/sys/kernel/random/boot_id")
