"""Issue 17 in QEMU (TCG): consoles from a registry, and no console change locks the operator out.

One machine, its system Docker pointed at a Docker Hub mirror: Debian's docker-registry on the host's
loopback, which the guest reaches as 10.0.2.2. The guest's DNS is loopback, so an image the mirror
lacks fails there and never goes further. The catalog images that the build made are published to it.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from machine import SERVICES_UP, Machine, SerialShell, wait_until
from rosbuild import steps
from sshvm import cloud_config_cmdline

pytestmark = pytest.mark.e2e

NOTE_FILE = "/run/rancheros/console.json"


@pytest.fixture(scope="module")
def machine(artifacts, local_registry, tmp_path_factory):
    doc = {"rancher": {"system_docker": {"registry_mirror": f"http://10.0.2.2:{local_registry.port}"},
                       "network": {"dns": {"nameservers": ["127.0.0.1"], "override": True}}}}
    m = Machine(artifacts, tmp_path_factory.mktemp("consoles-vm"), guest_ports=(), key_on_cmdline=False)
    doc["ssh_authorized_keys"] = [m.key.public]
    m.start(password="rancher", extra_append=cloud_config_cmdline(doc))
    yield m
    m.stop()


def _reboot(m: Machine) -> str:
    mark = len(m.vm.serial_text())
    m.ssh.run("sudo ros os reboot", check=False, timeout=60)
    m.vm.wait_for(r"rancheros: rebooting", timeout=300, start=mark)
    m.vm.wait_for(SERVICES_UP, timeout=1200, start=mark)
    m.ssh.wait(timeout=600, vm=m.vm)
    return m.vm.serial_text()[mark:]


def _list(m: Machine) -> dict[str, str]:
    """`ros console list` as {name: state and note}."""
    out = {}
    for line in m.ssh.out("sudo ros console list").splitlines():
        state, name, *why = line.split(None, 2)
        out[name] = " ".join([state, *why])
    return out


def test_printenv_through_ros_env(machine):
    machine.ssh.run("sudo ros config set rancher.environment.E2E_X from-the-config")
    assert machine.ssh.out("sudo ros env printenv E2E_X") == "from-the-config"


def test_a_switch_that_cannot_work_is_refused_and_the_console_stays(machine):
    ssh = machine.ssh
    bad = ssh.run("sudo ros console switch -f no-such-console", check=False)
    assert bad.rc != 0 and "unknown console 'no-such-console'" in bad.stderr, bad
    missing = ssh.run("sudo ros console switch -f ubuntu-console", check=False, timeout=600)
    assert missing.rc != 0 and "os-ubuntuconsole" in missing.stderr, missing  # the registry lacks it
    assert ssh.out("echo still-here") == "still-here"
    assert ssh.out("sudo ros config get rancher.console") == "default"
    assert _list(machine)["default"] == "current"


def test_a_console_that_cannot_start_at_boot_is_replaced_by_the_default(machine):
    ssh = machine.ssh
    assert ssh.run("sudo ros addon enable ubuntu-console").rc == 0
    assert _list(machine)["ubuntu-console"] == "enabled"
    boot = _reboot(machine)
    line = [ln for ln in boot.splitlines() if "console ubuntu-console cannot start" in ln]
    assert len(line) == 1 and "the default console runs for this boot" in line[0], boot[-3000:]
    assert ssh.out("cat /etc/os-release | grep ^ID=") == "ID=rancheros"
    listed = _list(machine)
    assert listed["default"] == "current"
    assert listed["ubuntu-console"].startswith("enabled (could not start this boot: "), listed
    serial = SerialShell(machine.vm)
    serial.login()
    assert serial.run("ros config get rancher.console") == "ubuntu-console"
    ssh.run("sudo ros console enable default")


def _switch(m: Machine, name: str) -> None:
    """`ros console switch -f NAME` over SSH, then a new session in it."""
    switched = m.ssh.run(f"sudo ros console switch -f {name}", check=False, timeout=900)
    assert "passed its check" in switched.stderr, switched
    want = "ID=rancheros" if name == "default" else "ID=debian"
    wait_until(lambda: m.ssh.run("grep ^ID= /etc/os-release", check=False).stdout.strip() == want, 300,
               f"an SSH session in the {name} console")


INDEX = """\
e2e-hello:
  kind: addon
  description: an add-on from an index over HTTP
  services:
    e2e-hello:
      image: rancheros/os-base:v0.1.0
      command: ["sh", "-c", "echo hello-from-a-repository; exec sleep 100000"]
      labels: {io.rancher.os.scope: system}
      network_mode: none
      restart: unless-stopped
"""


def test_an_addon_from_a_repository_index(machine, tmp_path):
    import functools
    import http.server
    import threading

    (tmp_path / "index.yml").write_text(INDEX)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ssh = machine.ssh
    try:
        ssh.run(f"sudo ros config set rancher.repositories.e2e.url http://10.0.2.2:{server.server_port}/index.yml")
        listed = ssh.out("sudo ros addon list")
        assert any(l.split()[:3] == ["disabled", "e2e-hello", "[e2e]"] for l in listed.splitlines()), listed
    finally:
        server.shutdown()
        server.server_close()
    # the index is cached: with its server gone, the add-on is still known, and enabling it runs it
    ssh.run("sudo ros addon enable e2e-hello")
    offline = ssh.run("sudo ros service up e2e-hello", check=False, timeout=300)
    assert offline.rc == 0 and "e2e-hello: created" in offline.stdout, offline
    assert "repository e2e: " in ssh.run("sudo ros addon list").stderr   # says the index is out of reach
    wait_until(lambda: "hello-from-a-repository" in ssh.out("sudo system-docker logs e2e-hello 2>&1"), 60,
               "the add-on's output")
    ssh.run("sudo ros addon disable e2e-hello")   # the next boot's `up` removes its container
    assert any(l.split()[:2] == ["disabled", "e2e-hello"] for l in ssh.out("sudo ros addon list").splitlines())


def _catalog_published(artifacts, registry) -> bool:
    catalog = getattr(artifacts, "catalog", None)
    if catalog is None or not catalog.exists():
        return False
    subprocess.run([sys.executable, str(steps.ROOT / "build.py"), "publish", "--registry", registry.addr],
                   check=True, timeout=900)
    return True


def test_switch_to_debian_and_back_and_a_boot_without_its_image(machine, artifacts, local_registry):
    if not _catalog_published(artifacts, local_registry):
        pytest.skip("the build made no catalog images (dist/artifacts/catalog-images.tar)")
    ssh = machine.ssh
    ssh.run("echo kept > /home/rancher/marker")
    ssh.run("sudo ros config set rancher.console_persistent true")
    _switch(machine, "debian-console")
    assert "apt" in ssh.out("apt-get --version")
    assert ssh.out("cat /home/rancher/marker") == "kept"
    assert _list(machine)["debian-console"] == "current"
    ssh.run("echo own | sudo tee /etc/e2e-console-own")   # the console's own filesystem, not a volume
    _reboot(machine)
    assert ssh.out("cat /etc/debian_version").startswith("12")
    # persistent: away to the default and back, the Debian console's own file is still there
    _switch(machine, "default")
    _switch(machine, "debian-console")
    assert ssh.out("cat /etc/e2e-console-own") == "own"
    # not persistent: back to the default removes the Debian console, then debian-console again with its
    # image gone and the registry stopped
    ssh.run("sudo ros config set rancher.console_persistent false")
    _switch(machine, "default")
    assert "console-kept-" not in ssh.out("sudo system-docker ps -a --format '{{.Names}}'")
    ssh.run("sudo system-docker rmi rancheros/os-debianconsole:v0.1.0")
    local_registry.stop()
    try:
        ssh.run("sudo ros config set rancher.console debian-console")
        boot = _reboot(machine)
        assert "console debian-console cannot start" in boot
        assert ssh.out("grep ^ID= /etc/os-release") == "ID=rancheros"
        SerialShell(machine.vm).login()
    finally:
        local_registry.start()
