"""`ros tls gen` + `ros docker run` start a real dockerd that only TLS clients with our client certificate reach."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker
import psutil
import pytest
import requests
from docker.tls import TLSConfig

from rosbuild.qemu import free_port

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("dockerd"), reason="needs root and dockerd"),
]
ROS = [sys.executable, "-m", "rancheros", "ros"]


@pytest.fixture(scope="module", autouse=True)
def own_ca_only():
    """requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override a session's CA file; drop them for this module."""
    saved = {k: os.environ.pop(k) for k in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE") if k in os.environ}
    yield
    os.environ.update(saved)


@pytest.fixture(scope="module")
def user_docker(own_ca_only):
    """A dockerd exec'd by `ros docker run` with rancher.docker.tls on, private dirs, TLS on 127.0.0.1:<port>."""
    tmp = Path(tempfile.mkdtemp(prefix="t5d", dir="/tmp"))  # short: unix socket paths are limited
    port = free_port()
    conf = tmp / "conf"
    conf.mkdir()
    (conf / "cloud-config.yml").write_text(f"""
rancher:
  docker:
    tls: true
    host: [unix://{tmp}/docker.sock, tcp://127.0.0.1:{port}]
    storage_driver: vfs
    data_root: {tmp}/data
    bridge: none
    extra_args: [--exec-root, {tmp}/exec, --pidfile, {tmp}/docker.pid, --iptables=false, --ip6tables=false]
""")
    (tmp / "cmdline").write_text("")
    env = dict(os.environ, ROS_CONFIG_DIR=str(conf), ROS_CMDLINE=str(tmp / "cmdline"),
               ROS_IMAGE_CONFIG=str(tmp / "none.yml"), HOME=str(tmp / "home"))
    gen = subprocess.run(ROS + ["tls", "gen"], env=env, capture_output=True, text=True)
    assert gen.returncode == 0, gen.stderr
    log = open(tmp / "dockerd.log", "w")
    proc = subprocess.Popen(ROS + ["docker", "run"], env=env, stdout=log, stderr=subprocess.STDOUT)
    client_dir = tmp / "home/.docker"
    tls = TLSConfig(client_cert=(str(client_dir / "cert.pem"), str(client_dir / "key.pem")),
                    ca_cert=str(client_dir / "ca.pem"), verify=True)
    url = f"https://127.0.0.1:{port}"
    try:
        for _ in range(240):
            if proc.poll() is not None:
                break
            try:
                if docker.DockerClient(base_url=url, tls=tls, timeout=5).ping():
                    break
            except (docker.errors.DockerException, requests.exceptions.RequestException):
                time.sleep(0.25)
        assert proc.poll() is None, (tmp / "dockerd.log").read_text()[-3000:]
        yield {"url": url, "tls": tls, "conf": conf, "client": client_dir, "proc": proc, "tmp": tmp}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def test_ros_docker_run_execs_dockerd_with_tlsverify(user_docker):
    cmdline = Path(f"/proc/{user_docker['proc'].pid}/cmdline").read_bytes().split(b"\0")
    assert os.path.basename(cmdline[0]) == b"dockerd"
    assert b"--tlsverify" in cmdline and b"--storage-driver" in cmdline
    # dockerd runs on the containerd `ros docker run` started and waited for, under the exec root
    sock = cmdline[cmdline.index(b"--containerd") + 1]
    assert sock == str(user_docker["tmp"] / "exec/containerd/containerd.sock").encode()
    children = psutil.Process(user_docker["proc"].pid).children()
    assert [os.path.basename(c.cmdline()[0]) for c in children] == ["containerd"], children


def test_client_with_certificates_gets_ping_and_version(user_docker):
    client = docker.DockerClient(base_url=user_docker["url"], tls=user_docker["tls"], timeout=10)
    assert client.ping() is True
    assert client.version()["ApiVersion"]


def test_client_without_certificate_is_refused(user_docker):
    no_cert = TLSConfig(ca_cert=str(user_docker["client"] / "ca.pem"), verify=True)
    with pytest.raises(requests.exceptions.SSLError) as err:
        docker.APIClient(base_url=user_docker["url"], tls=no_cert, timeout=10, version="1.41").ping()
    assert "certificate" in str(err.value).lower()


def test_tls_files_are_private(user_docker):
    server_dir = user_docker["conf"] / "tls"
    for d, names in [(server_dir, ["ca.pem", "ca-key.pem", "server-cert.pem", "server-key.pem"]),
                     (user_docker["client"], ["ca.pem", "cert.pem", "key.pem"])]:
        for n in names:
            assert (d / n).stat().st_mode & 0o777 == 0o600, d / n
