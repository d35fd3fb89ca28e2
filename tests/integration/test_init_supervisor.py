"""The boot manager's supervisor against a real dockerd of its own: images preloaded, services up,
dockerd killed with SIGKILL and brought back with the services, then an ordered stop."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
import threading
import time

import docker
import pytest

from rancheros.manager.supervisor import Supervisor

pytestmark = pytest.mark.integration


class Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())

    def count(self, text: str) -> int:
        return sum(text in line for line in self.lines)

    def index(self, text: str) -> int:
        return next(i for i, line in enumerate(self.lines) if text in line)


def _wait(cond, what: str, lines: Lines, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}; log:\n" + "\n".join(lines.lines[-30:]))


def _service(image: str, after: str | None = None) -> dict:
    labels = {"io.rancher.os.scope": "system"}
    if after:
        labels["io.rancher.os.after"] = after
    return {"image": image, "command": ["sleep", "1000"], "restart": "always", "labels": labels,
            "network_mode": "none"}


def test_dockerd_killed_is_restarted_with_services_and_stop_is_ordered(system_docker, busybox_image):
    root = tempfile.mkdtemp(prefix="ros-sv-", dir="/tmp")
    images = os.path.join(root, "images")
    os.makedirs(images)
    with open(os.path.join(images, "busybox.tar"), "wb") as f:
        for chunk in system_docker.images.get(busybox_image).save(named=True):
            f.write(chunk)
    doc = {"rancher": {
        "system_docker": {"socket": f"{root}/sd.sock", "data_root": f"{root}/data", "exec_root": f"{root}/x",
                          "pidfile": f"{root}/sd.pid", "log_file": f"{root}/sd.log", "preload_dir": images,
                          "bridge": "none", "iptables": False},
        "services": {"first": _service(busybox_image), "second": _service(busybox_image, after="first")},
        "shutdown_timeout": 2,
    }}
    lines = Lines()
    logger = logging.getLogger("rancheros")
    logger.addHandler(lines)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    sup = Supervisor(doc, reload=lambda: doc)
    thread = threading.Thread(target=sup.run, daemon=True)
    thread.start()
    client = None
    try:
        _wait(lambda: lines.count("services up") >= 1, "services up", lines)
        assert lines.index("system-docker ready") < lines.index("images loaded") < lines.index("services up")
        client = docker.DockerClient(base_url=f"unix://{root}/sd.sock")
        running = {c.name for c in client.containers.list()}
        assert {"first", "second"} <= running, running
        first_pid = sup.daemon.pid

        os.kill(first_pid, signal.SIGKILL)
        _wait(lambda: lines.count("services up") >= 2, "services back up", lines)
        assert lines.count("system-docker died (killed by SIGKILL); restarting in 1s") == 1
        assert sup.daemon.pid != first_pid and sup.daemon.running()
        client.close()
        client = docker.DockerClient(base_url=f"unix://{root}/sd.sock")
        assert {"first", "second"} <= {c.name for c in client.containers.list()}

        sup.stop.set()
        thread.join(60)
        assert not thread.is_alive()
        assert lines.index("stopping services") < lines.index("service second: stopping") \
            < lines.index("service first: stopping") < lines.index("system-docker stopped")
        assert not sup.daemon.running()
    finally:
        sup.stop.set()
        thread.join(60)
        if client:
            client.close()
        logger.removeHandler(lines)
        logger.setLevel(old_level)
        subprocess_cleanup(root)


def subprocess_cleanup(root: str) -> None:
    """Unmount what dockerd left under the temp dir, then remove it."""
    with open("/proc/self/mounts") as f:
        targets = [line.split()[1] for line in f if line.split()[1].startswith(root)]
    for t in sorted(targets, reverse=True):
        os.system(f"umount -l {t} 2>/dev/null")
    shutil.rmtree(root, ignore_errors=True)
