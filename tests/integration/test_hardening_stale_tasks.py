"""Issue 20, item 5: a killed system dockerd leaves its containers' shims behind; the next dockerd must
start and bring the services back. Before the fix the next dockerd waited on the stale shim and gave
up ("failed to start containerd: timeout waiting for containerd to start"; in CI also "task ...
already exists" for the console). SystemDocker.start now runs clear_stale_tasks first.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time

import psutil
import pytest

from rancheros.sysdocker.daemon import SystemDocker, SystemDockerConfig

from conftest import _skip_reason, busybox_rootfs_tar

pytestmark = pytest.mark.integration


def _ours(root: str) -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if root in " ".join(p.info["cmdline"] or []) and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.Error:
            pass
    return out


def _cleanup(root: str) -> None:
    for p in _ours(root):
        try:
            for c in p.children(recursive=True):
                c.kill()
            p.kill()
        except psutil.Error:
            pass
    time.sleep(0.5)
    mounts = [line.split()[1] for line in open("/proc/self/mounts") if root in line.split()[1]]
    for m in sorted(mounts, reverse=True):
        subprocess.run(["umount", "-l", m], check=False)
    shutil.rmtree(root, ignore_errors=True)


def test_services_come_back_after_system_dockerd_was_killed():
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    root = tempfile.mkdtemp(prefix="ros-st-", dir="/tmp")
    cfg = SystemDockerConfig(socket=f"{root}/sd.sock", data_root=f"{root}/data", exec_root=f"{root}/x",
                             pidfile=f"{root}/sd.pid", log_file=f"{root}/sd.log", preload_dir=f"{root}/images")
    try:
        first = SystemDocker(cfg)
        first.start()
        client = first.wait_ready(60)
        client.api.import_image_from_data(busybox_rootfs_tar(), repository="ros-st/busybox", tag="x",
                                          changes=["ENV PATH=/bin"])
        svc = client.containers.run("ros-st/busybox:x", ["sleep", "1000"], detach=True, name="svc",
                                    restart_policy={"Name": "always"}, network_mode="none")
        svc.reload()
        assert svc.status == "running"
        client.close()
        os.kill(first.pid, signal.SIGKILL)
        first.proc.wait()
        time.sleep(0.5)
        shims = [p for p in _ours(root) if p.name().startswith("containerd-shim")]
        assert shims, "the shim was expected to outlive the killed dockerd (that is the defect's setup)"

        second = SystemDocker(cfg)
        second.start()
        try:
            client = second.wait_ready(120)
            deadline = time.monotonic() + 60
            while client.containers.get("svc").status != "running" and time.monotonic() < deadline:
                time.sleep(0.5)
            assert client.containers.get("svc").status == "running"
            assert not any(s.is_running() and s.status() != psutil.STATUS_ZOMBIE for s in shims)
            for c in client.containers.list(all=True):
                c.remove(force=True)
            client.close()
        finally:
            second.stop(20)
    finally:
        _cleanup(root)
