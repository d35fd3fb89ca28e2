"""Issue 7 in QEMU (TCG): the user Docker, driven over SSH from the console and from the host.

Runs on the machine the service tests use (tests/e2e/machine.py); ends with a reboot for persistence
and the ACPI power button (issue 6's acpid check, the machine's last act).
"""

from __future__ import annotations

import urllib.request

import docker
import pytest

from machine import busybox_archive, shared_machine, wait_until

pytestmark = pytest.mark.e2e

IMAGE = "e2e/busybox:1"
SYSTEM_SERVICES = ("udev", "syslog", "acpid", "network", "console", "docker")


@pytest.fixture(scope="session")
def machine(artifacts, tmp_path_factory):
    m = shared_machine(artifacts, tmp_path_factory)
    yield m
    m.stop()


@pytest.fixture(scope="module")
def image(machine, tmp_path_factory):
    """The test's busybox image, `docker load`ed into the user Docker from a tar streamed over SSH."""
    archive = busybox_archive(tmp_path_factory.mktemp("img"))
    # SSH answers before the user Docker by design (the console starts first): wait for it
    wait_until(lambda: machine.ssh.run("docker version", check=False, timeout=120).rc == 0, 300,
               "the user Docker to answer")
    out = machine.ssh.run("docker load", stdin=archive.read_bytes()).stdout
    assert f"Loaded image: {IMAGE}" in out, out
    return IMAGE


def _user_dockerd_pid(machine) -> int:
    return int(machine.ssh.out("sudo system-docker inspect -f '{{.State.Pid}}' docker"))


def _docker_ready(machine) -> bool:
    return machine.ssh.run("docker info --format '{{.ServerVersion}}'", check=False).rc == 0


def test_load_and_run_rm(machine, image):
    out = machine.ssh.out(f"docker run --rm {image} echo hello-from-a-user-container")
    assert out == "hello-from-a-user-container"
    assert machine.ssh.out("docker ps -aq") == ""      # --rm removed it


def test_published_port_reachable_from_the_host(machine, image):
    machine.ssh.run(f"docker run -d --name web -p 8080:80 {image} httpd -f -p 80 -h /www")

    def fetch():
        try:
            with urllib.request.urlopen(f"http://{machine.url(8080)}/index.html", timeout=10) as r:
                return r.read().decode()
        except OSError:
            return None

    assert wait_until(fetch, 120, "the published port answers through QEMU's forward") == \
        "hello from the user docker\n"


def test_removing_all_user_containers_leaves_the_os(machine, image):
    ssh = machine.ssh
    ssh.run(f"docker run -d {image} sleep 600")
    ssh.run("docker rm -f $(docker ps -qa)")
    assert ssh.out("docker ps -qa") == ""
    names = ssh.out("sudo system-docker ps --format '{{.Names}}'").split()
    assert all(s in names for s in SYSTEM_SERVICES), names
    assert ssh.out("echo still-here") == "still-here"   # a new SSH session works


def test_killed_user_dockerd_is_restarted(machine):
    before = _user_dockerd_pid(machine)
    machine.ssh.run(f"sudo kill -9 {before}")
    after = wait_until(lambda: (p := _user_dockerd_pid(machine)) not in (0, before) and p, 180,
                       "the docker service restarted dockerd")
    wait_until(lambda: _docker_ready(machine), 180, "the restarted user Docker answers")
    assert after != before


def test_tls_on_2376_with_client_certificates(machine, tmp_path, monkeypatch):
    # requests lets these override the TLSConfig's CA (docker/docker-py#2433): the SDK must use ours.
    for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(var, raising=False)
    try:
        _tls_round_trip(machine, tmp_path)
    finally:  # later tests on this machine expect the plain socket
        machine.ssh.run("sudo ros config set rancher.docker.tls false", check=False)


def _tls_round_trip(machine, tmp_path):
    ssh = machine.ssh
    console_started = ssh.out("sudo system-docker inspect -f '{{.State.StartedAt}}' console")
    ssh.run("sudo ros config set rancher.docker.tls true")
    ssh.run("sudo ros tls gen --server --hostname 127.0.0.1")
    ssh.run("sudo ros tls gen -d /home/rancher/.docker-e2e")
    ssh.run("sudo ros service up docker")
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_text(ssh.out(f"sudo cat /home/rancher/.docker-e2e/{name}"))
    base = f"https://{machine.url(2376)}"

    def version():
        tls = docker.tls.TLSConfig(client_cert=(str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")),
                                   ca_cert=str(tmp_path / "ca.pem"), verify=True)
        try:
            return docker.DockerClient(base_url=base, tls=tls, timeout=30).version()
        except docker.errors.DockerException:
            return None

    info = wait_until(version, 240, "the user Docker answers on 2376 with the client certificate")
    assert info["ApiVersion"]
    no_cert = docker.tls.TLSConfig(ca_cert=str(tmp_path / "ca.pem"), verify=True)
    with pytest.raises(docker.errors.DockerException, match="(?i)certificate"):
        docker.DockerClient(base_url=base, tls=no_cert, timeout=30).version()
    # only the user Docker restarted
    assert ssh.out("sudo system-docker inspect -f '{{.State.StartedAt}}' console") == console_started
    ssh.run("sudo ros config set rancher.docker.tls false && sudo ros service up docker")
    wait_until(lambda: _docker_ready(machine), 180, "the user Docker answers on its socket again")


def test_images_and_containers_survive_a_reboot(machine, image):
    ssh = machine.ssh
    ssh.run(f"docker create --name keeper {image} echo kept")
    machine.reboot()
    wait_until(lambda: _docker_ready(machine), 180, "the user Docker answers after the reboot")
    assert image in ssh.out("docker images --format '{{.Repository}}:{{.Tag}}'").split()
    assert "keeper" in ssh.out("docker ps -a --format '{{.Names}}'").split()
    assert ssh.out("docker start -a keeper") == "kept"


def test_power_button_powers_off_cleanly(machine):
    """Issue 6 (acpid): QMP system_powerdown -> acpid -> ros os shutdown -> qemu exits 0."""
    vm = machine.vm
    mark = len(vm.serial_text())
    vm.powerdown()
    vm.wait_for(r"rancheros: stopping services", timeout=300, start=mark)
    vm.wait_for(r"rancheros: powering off", timeout=300, start=mark)
    assert vm.wait_exit(120) == 0
