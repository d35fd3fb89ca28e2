"""SystemDocker start failures and image preload, against real dockerd processes."""

from __future__ import annotations

import tempfile
import shutil
from pathlib import Path

import pytest

from rancheros.errors import DockerError
from rancheros.sysdocker.daemon import SystemDocker, SystemDockerConfig
from rancheros.sysdocker.preload import preload_images

pytestmark = pytest.mark.integration


def test_daemon_runs_with_the_configured_paths(system_docker_daemon, system_docker):
    cfg = system_docker_daemon.cfg
    assert system_docker_daemon.running()
    assert int(Path(cfg.pidfile).read_text()) == system_docker_daemon.pid
    docker_info = system_docker.info()
    assert docker_info["DockerRootDir"] == cfg.data_root
    assert docker_info["Driver"] == system_docker_daemon.storage_driver


def test_a_daemon_that_cannot_start_reports_its_log(system_docker_config):
    root = tempfile.mkdtemp(prefix="ros-bad-", dir="/tmp")
    try:
        cfg = SystemDockerConfig(socket=f"{root}/s.sock", data_root=f"{root}/d", exec_root=f"{root}/x",
                                 pidfile=f"{root}/p", log_file=f"{root}/log", extra_args=["--no-such-flag"])
        daemon = SystemDocker(cfg)
        daemon.start()
        with pytest.raises(DockerError) as err:
            daemon.wait_ready(30)
        assert "exited with status" in str(err.value) and "no-such-flag" in str(err.value)
        assert not daemon.running()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_missing_dockerd_binary_is_named(tmp_path):
    cfg = SystemDockerConfig(socket=f"{tmp_path}/s", data_root=f"{tmp_path}/d", exec_root=f"{tmp_path}/x",
                             pidfile=f"{tmp_path}/p", log_file=f"{tmp_path}/l", dockerd=f"{tmp_path}/nope")
    with pytest.raises(DockerError, match="nope"):
        SystemDocker(cfg).start()


def test_preload_loads_missing_archives_once(system_docker, busybox_image, tmp_path):
    tag = "ros-test/preload:v1"
    image = system_docker.images.get(busybox_image)
    image.tag("ros-test/preload", "v1")
    archive = tmp_path / "images" / "preload.tar"
    archive.parent.mkdir()
    with open(archive, "wb") as f:
        for chunk in system_docker.api.get_image(tag):  # `docker save TAG`
            f.write(chunk)
    (tmp_path / "images" / "broken.tar").write_bytes(b"not a tar")
    system_docker.images.remove(tag)

    first = {Path(r.archive).name: r for r in preload_images(system_docker, archive.parent)}
    assert first["preload.tar"].loaded and first["preload.tar"].error is None
    assert first["preload.tar"].tags == [tag]
    assert system_docker.images.get(tag).id == image.id
    assert not first["broken.tar"].loaded and first["broken.tar"].error

    second = {Path(r.archive).name: r for r in preload_images(system_docker, archive.parent)}
    assert not second["preload.tar"].loaded and second["preload.tar"].error is None
    system_docker.images.remove(tag)
