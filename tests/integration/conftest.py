"""Session fixtures: one real system dockerd (our SystemDocker class) under a temp dir, and a busybox image.

Other integration tests reuse `system_docker` (a DockerClient) and `busybox_image` (a tag).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import tempfile

import pytest

from rancheros.sysdocker.daemon import SystemDocker, SystemDockerConfig
from rosbuild.qemu import free_port

BUSYBOX = "/bin/busybox"
BUSYBOX_TAG = "ros-test/busybox:latest"


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "integration tests need root to run dockerd"
    if shutil.which("dockerd") is None:
        return "dockerd is not installed (Debian package docker.io)"
    return None


@pytest.fixture(scope="session")
def system_docker_config():
    """A SystemDockerConfig whose every path lives under a short temp dir."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    root = tempfile.mkdtemp(prefix="ros-it-", dir="/tmp")
    cfg = SystemDockerConfig(
        socket=f"{root}/sd.sock", data_root=f"{root}/data", exec_root=f"{root}/x",
        pidfile=f"{root}/sd.pid", log_file=f"{root}/sd.log", bridge="none", iptables=False,
        log_level="warn", preload_dir=f"{root}/images",
    )
    yield cfg
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def system_docker_daemon(system_docker_config):
    """The running SystemDocker (started and stopped exactly as init does)."""
    daemon = SystemDocker(system_docker_config)
    daemon.start()
    try:
        daemon.wait_ready(60)
    except Exception:
        daemon.stop(10)
        raise
    yield daemon
    client = daemon.client()
    for c in client.containers.list(all=True):
        c.remove(force=True)
    client.close()
    daemon.stop(20)


@pytest.fixture(scope="session")
def system_docker(system_docker_daemon):
    """A docker.DockerClient on the session's system dockerd."""
    client = system_docker_daemon.client()
    yield client
    client.close()


def busybox_rootfs_tar(busybox: str = BUSYBOX) -> bytes:
    """A rootfs tar holding busybox-static and one symlink per applet (no image registry needed)."""
    applets = subprocess.run([busybox, "--list"], check=True, capture_output=True, text=True).stdout.split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("bin", "etc", "tmp", "proc", "sys", "dev", "data", "var", "var/run"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        tar.add(busybox, arcname="bin/busybox")
        for name in applets:
            if name == "busybox":
                continue
            info = tarfile.TarInfo(f"bin/{name}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
        passwd = b"root:x:0:0:root:/root:/bin/sh\n"
        info = tarfile.TarInfo("etc/passwd")
        info.size = len(passwd)
        tar.addfile(info, io.BytesIO(passwd))
    return buf.getvalue()


@pytest.fixture(scope="session")
def busybox_image(system_docker) -> str:
    """Tag of a tiny busybox image imported from a rootfs tar (never pulled)."""
    repo, tag = BUSYBOX_TAG.rsplit(":", 1)
    system_docker.api.import_image_from_data(busybox_rootfs_tar(), repository=repo, tag=tag,
                                             changes=["ENV PATH=/bin", 'CMD ["/bin/sh"]'])
    system_docker.images.get(BUSYBOX_TAG)
    return BUSYBOX_TAG


@pytest.fixture
def clean(system_docker):
    """Each test starts and ends with no containers in system Docker."""
    def wipe():
        for c in system_docker.containers.list(all=True):
            c.remove(force=True)
    wipe()
    yield
    wipe()


@pytest.fixture
def ros_config(system_docker_config, tmp_path, monkeypatch):
    """Write a local config layer; `ros` then reads it (and no image layer, a quiet command line) and
    drives the session's system dockerd (SYSTEM_DOCKER_HOST). Returns the config dir."""
    import yaml

    def write(local: dict):
        conf = tmp_path / "conf"
        conf.mkdir(exist_ok=True)
        (tmp_path / "cmdline").write_text("quiet\n")
        (conf / "cloud-config.yml").write_text(yaml.safe_dump(local))
        monkeypatch.setenv("ROS_CONFIG_DIR", str(conf))
        monkeypatch.setenv("ROS_CMDLINE", str(tmp_path / "cmdline"))
        monkeypatch.setenv("ROS_IMAGE_CONFIG", str(tmp_path / "no-image-config.yml"))
        monkeypatch.setenv("SYSTEM_DOCKER_HOST", f"unix://{system_docker_config.socket}")
        return conf
    return write
