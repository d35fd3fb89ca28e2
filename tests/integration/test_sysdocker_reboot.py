"""A second system dockerd whose data root sits on overlayfs (so overlay2 must fall back to vfs),
stopped and started again on the same state, as a reboot with a persistent state disk does."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from rancheros.sysdocker.daemon import SystemDocker, SystemDockerConfig
from rancheros.sysdocker.engine import CREATED, STARTED, UNCHANGED, Engine
from rancheros.sysdocker.preload import preload_images

pytestmark = pytest.mark.integration


@pytest.fixture
def overlay_root(system_docker_config):
    """A directory on an overlayfs mount (dockerd cannot stack overlay2 on it)."""
    root = Path(tempfile.mkdtemp(prefix="ros-ov-", dir="/tmp"))
    for d in ("lower", "upper", "work", "merged"):
        (root / d).mkdir()
    opts = f"lowerdir={root}/lower,upperdir={root}/upper,workdir={root}/work"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(root / "merged")], check=True)
    yield root
    subprocess.run(["umount", "-l", str(root / "merged")], check=False)
    shutil.rmtree(root, ignore_errors=True)


def test_vfs_fallback_and_state_surviving_a_restart(overlay_root, system_docker, busybox_image):
    archive_dir = overlay_root / "images"
    archive_dir.mkdir()
    with open(archive_dir / "busybox.tar", "wb") as f:
        for chunk in system_docker.api.get_image(busybox_image):
            f.write(chunk)
    m = overlay_root / "merged"
    cfg = SystemDockerConfig(socket=f"{overlay_root}/sd.sock", data_root=f"{m}/data", exec_root=f"{overlay_root}/x",
                             pidfile=f"{overlay_root}/sd.pid", log_file=f"{overlay_root}/sd.log",
                             preload_dir=str(archive_dir))
    doc = {"rancher": {"services": {
        "boot-once": {"image": busybox_image, "command": ["true"], "network_mode": "none",
                      "labels": {"io.rancher.os.detach": "false"}},
        "keeper": {"image": busybox_image, "command": ["sleep", "1000"], "network_mode": "none",
                   "labels": {"io.rancher.os.after": "boot-once"}},
    }}}
    daemon = SystemDocker(cfg)
    try:
        for boot in (1, 2):
            daemon.start()
            client = daemon.wait_ready(60)
            assert daemon.storage_driver == "vfs" and client.info()["Driver"] == "vfs"
            results = preload_images(client, archive_dir)
            assert [(r.loaded, r.error) for r in results] == [(boot == 1, None)]
            report = Engine(client, doc, catalog={}).up()
            if boot == 1:
                assert report.actions == {"boot-once": CREATED, "keeper": CREATED}
                first_id = client.api.inspect_container("keeper")["Id"]
            else:
                # Same containers from the persistent state; the boot one-shot runs again this boot
                # only when it last ran before the machine booted, which on this host it did not.
                assert report.actions["keeper"] == STARTED  # it was stopped at "shutdown"
                assert report.actions["boot-once"] == UNCHANGED
                assert client.api.inspect_container("keeper")["Id"] == first_id
                assert client.api.inspect_container("keeper")["State"]["Running"]
            assert Engine(client, doc, catalog={}).stop_all(timeout_each=1) == {}
            client.close()
            assert daemon.stop(20) == 0
    finally:
        if daemon.running():
            daemon.stop(5)
