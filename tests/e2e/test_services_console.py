"""Issue 6 in QEMU (TCG): the system services seen over SSH as a user sees them.

One machine (tests/e2e/machine.py, shared with the user Docker tests) boots without a password and with
our key from the `cmdline` datasource; the checks run in sequence on it. The last check restarts it
with the live entry's password and a second NIC, and looks at what the first boot's `ros config set`
left behind. The ACPI power button check is the user Docker module's last test (same machine).
"""

from __future__ import annotations

import random
import re
import subprocess
import time

import pytest
import yaml

from machine import shared_machine, wait_until
from sshvm import Ssh

pytestmark = pytest.mark.e2e

SERVICES = ("udev", "syslog", "acpid", "network", "ntp", "console", "docker")
ETH1 = "192.168.76.20/24"   # static address of the second NIC (its QEMU user network is 192.168.76.0/24)


@pytest.fixture(scope="session")
def machine(artifacts, tmp_path_factory):
    m = shared_machine(artifacts, tmp_path_factory)
    yield m
    m.stop()


def test_key_login_user_groups_and_config_set(machine):
    ssh = machine.ssh
    ident = ssh.out("id")
    assert "uid=1100(rancher)" in ident and "(docker)" in ident, ident
    assert ssh.out("sudo -n id -u") == "0"          # passwordless sudo
    ssh.run("sudo ros config set rancher.network.dns.nameservers '[1.1.1.1]'")
    assert "1.1.1.1" in ssh.out("sudo ros config get rancher.network.dns.nameservers")
    # for the restart check: a static address on the second NIC, DHCP stays on eth0
    ssh.run(f"sudo ros config set rancher.network.interfaces.eth1.address {ETH1}")
    ssh.run("sudo ros config set rancher.network.interfaces.eth1.dhcp false")
    assert ETH1 in ssh.out("sudo ros config get rancher.network.interfaces.eth1.address")


def test_every_system_service_runs(machine):
    names = machine.ssh.out("sudo system-docker ps --format '{{.Names}}'").split()
    missing = [s for s in SERVICES if s not in names]
    assert not missing, f"not running: {missing}; running: {names}"
    # Running is not enough: a service that exits at once is restarted (`unless-stopped`) and looks alive.
    restarts = machine.ssh.out("sudo system-docker inspect -f '{{.Name}} {{.RestartCount}}' " + " ".join(SERVICES))
    looping = [ln for ln in restarts.split("\n") if ln.split()[-1] != "0"]
    tails = {ln: machine.ssh.out(f"sudo system-docker logs --tail 15 {ln.split()[0][1:]} 2>&1") for ln in looping}
    assert not looping, f"restarted since boot: {tails}"
    # Only local datasources here (cmdline): init's local stage did cloud-init's work, no container for it.
    assert "rancheros: service cloud-init: skipped (network-datasource: no)" in machine.vm.serial_text()


def test_udev_links_disks_by_label(machine):
    """udev runs on the OS's /dev and replays boot's devices: the state disk has its by-label link, shared
    with the console; interfaces keep their kernel names."""
    link = wait_until(lambda: machine.ssh.out("readlink -f /dev/disk/by-label/RANCHER_STATE || true"), 60,
                      "/dev/disk/by-label/RANCHER_STATE in the console")
    assert link == "/dev/vda"
    assert "eth0" in machine.ssh.out("ls /sys/class/net")


def test_tools_inside_the_console(machine):
    ssh = machine.ssh
    assert ssh.run("ros --help").rc == 0
    # the user Docker, as the rancher user; SSH answers first by design, its dockerd may still be starting
    wait_until(lambda: ssh.run("docker version", check=False).rc == 0, 180, "the user Docker answering")
    assert "Server" in ssh.out("docker version")
    assert "console" in ssh.out("sudo system-docker ps --format '{{.Names}}'").split()


def test_a_new_hostname_reaches_the_running_console(machine):
    ssh = machine.ssh
    assert "network: applied hostname e2e-renamed.example" in ssh.out("sudo ros config set hostname e2e-renamed.example")
    wait_until(lambda: ssh.out("hostname") == "e2e-renamed.example", 120, "the new hostname")
    assert "127.0.1.1\te2e-renamed.example e2e-renamed" in ssh.out("cat /etc/hosts").splitlines()
    done = ssh.run("sudo true")
    assert "unable to resolve host" not in done.stderr, done.stderr
    # the system containers (here the user Docker's) share the console's /etc/hosts
    assert "e2e-renamed.example" in ssh.out("sudo system-docker exec docker cat /etc/hosts")


def test_password_login_refused_without_a_password(machine):
    refused = Ssh(machine.ssh_port, password="rancher").run("true", check=False, timeout=90)
    assert refused.rc == 255 and "Permission denied" in refused.stderr, refused
    assert "passwordauthentication no" in machine.ssh.out("sudo /usr/sbin/sshd -T").lower()


def test_security_of_the_console(machine):
    ssh = machine.ssh
    denied = ssh.run("system-docker ps", check=False)
    assert denied.rc != 0 and "permission denied" in (denied.stderr + denied.stdout).lower(), denied
    settings = ssh.out("sudo /usr/sbin/sshd -T").lower().splitlines()
    assert "permitemptypasswords no" in settings
    assert "permitrootlogin no" in settings
    # even with our key in root's authorized_keys, root may not log in
    ssh.run(f"sudo sh -c 'mkdir -p /root/.ssh && echo \"{machine.key.public}\" > /root/.ssh/authorized_keys'")
    root = Ssh(machine.ssh_port, machine.key, user="root").run("true", check=False, timeout=90)
    assert root.rc == 255 and "Permission denied" in root.stderr, root


def test_var_log_messages_collects_kernel_network_and_console(machine):
    ssh = machine.ssh
    kernel = wait_until(lambda: " kernel: " in (t := ssh.out("sudo cat /var/log/messages")) and t, 120,
                        "/var/log/messages holds kernel lines (klogd in the syslog service)")
    assert "Linux version" in kernel or "virtio" in kernel, kernel[-2000:]
    for tag in ("network", "console"):
        wait_until(lambda: f" {tag}: " in ssh.out("sudo cat /var/log/messages"), 60,
                   f"/var/log/messages holds {tag} lines (our services log to the syslog socket)")


def test_ntp_syncs_from_the_configured_server(machine, ntp_server):
    """rancher.network.ntp.servers -> ntp recreated by `ros service up` -> OpenNTPD sets the clock from it."""
    ssh = machine.ssh
    ssh.run(f"sudo ros config set rancher.network.ntp.servers '[{ntp_server}]' && sudo ros service up ntp")
    logs = wait_until(lambda: f"peer {ntp_server} now valid" in (o := ssh.out("sudo ros service logs ntp")) and o,
                      180, f"ntpd took {ntp_server} as a valid peer")
    assert f"reply from {ntp_server}" in logs


def test_service_logs(machine):
    out = machine.ssh.out("sudo ros service logs network")
    assert "resolv.conf" in out or "udhcpc" in out, out
    assert machine.ssh.out("sudo ros service logs console") != ""


def test_host_keys_kept_in_config_and_redacted_on_export(machine):
    ssh = machine.ssh
    keys = ssh.out("sudo ros config get rancher.ssh.keys")
    assert "ed25519-pub" in keys and "ssh-ed25519 " in keys
    export = ssh.out("sudo ros config export")
    assert "OPENSSH PRIVATE KEY" not in export


CUT_KEY = "rancher.environment.E2E_POWER_CUT"
CUT_LOOP = (f"i=0; while i=$((i+1)); do ros config set {CUT_KEY} v$i || exit 1; echo $i > /tmp/cut-done; done")


def test_power_cut_during_config_sets_leaves_a_parsable_config(machine):
    """Issue 20 item 9: QEMU killed (a power cut) in a loop of `ros config set`, twice; after each boot the
    config parses, holds the last set that returned (write_atomic fsyncs) or the one after, and ros still works."""
    rng = random.Random()
    for cut in range(2):
        ssh = machine.ssh
        ssh.run(f"sudo setsid sh -c '{CUT_LOOP}' </dev/null >/dev/null 2>&1 &", timeout=60)
        wait_until(lambda: int(ssh.out("cat /tmp/cut-done 2>/dev/null || echo 0") or 0) >= 2, 300,
                   "the ros config set loop has completed two sets", interval=1)
        time.sleep(rng.uniform(0.0, 3.0))
        done = int(ssh.out("cat /tmp/cut-done"))
        machine.vm.kill()                       # the power cut: SIGKILL to QEMU, no shutdown of any kind
        machine.start()
        ssh = machine.ssh
        text = ssh.out("sudo cat /var/lib/rancher/conf/cloud-config.yml")
        doc = yaml.safe_load(text)
        assert isinstance(doc, dict), text
        value = doc["rancher"]["environment"]["E2E_POWER_CUT"]
        assert re.fullmatch(r"v\d+", value) and int(value[1:]) in (done, done + 1, done + 2), (done, value)
        assert ssh.out(f"sudo ros config get {CUT_KEY}") == value
        ssh.run("sudo ros config validate /var/lib/rancher/conf/cloud-config.yml")
    ssh.run(f"sudo ros config unset {CUT_KEY}")
    left = ssh.out("sudo ls -A /var/lib/rancher/conf")
    assert ".tmp." not in left, f"a killed writer's temp file outlived the next write: {left}"


def test_restart_with_password_second_nic_and_persisted_config(machine):
    """Cold restart: the live entry's password and a second NIC; the first boot's config set is applied."""
    machine.start(password="rancher",
                  extra_args=["-netdev", "user,id=net1,net=192.168.76.0/24",
                              "-device", "virtio-net-pci,netdev=net1"])
    ssh = machine.ssh
    assert "nameserver 1.1.1.1" in ssh.out("cat /etc/resolv.conf")
    wait_until(lambda: ETH1 in ssh.out("ip -4 -o addr show eth1"), 120, f"eth1 has {ETH1}")
    eth0 = wait_until(lambda: "10.0.2.15/" in (o := ssh.out("ip -4 -o addr show eth0")) and o, 120,
                      "eth0 has its DHCP lease 10.0.2.15")
    assert "10.0.2.15" in eth0
    ping = ssh.run("sudo ping -c 2 -W 5 192.168.76.2", check=False)  # busybox ping needs a raw socket
    assert ping.rc == 0, f"the second NIC's gateway does not answer: {ping.stdout}{ping.stderr}"
    with_password = Ssh(machine.ssh_port, password="rancher").run("id -un", check=False, timeout=90)
    assert with_password.rc == 0 and with_password.stdout.strip() == "rancher", with_password

