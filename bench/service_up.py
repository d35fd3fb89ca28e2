#!/usr/bin/env python3
"""Time `Engine.up` of 8 services shaped like the boot's (createonly volumes, a chain, a one-shot)
from cold, and a no-op `up` when nothing changed. Starts its own system dockerd in a temp dir (root).

Usage: .venv/bin/python bench/service_up.py [ROUNDS]
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rancheros.sysdocker.daemon import SystemDocker, SystemDockerConfig  # noqa: E402
from rancheros.sysdocker.engine import Engine  # noqa: E402
from tests.integration.conftest import busybox_rootfs_tar  # noqa: E402

IMAGE = "ros-bench/busybox:latest"


def services() -> dict:
    def svc(after: str = "", **kw) -> dict:
        labels = {"io.rancher.os.scope": "system", **kw.pop("labels", {})}
        if after:
            labels["io.rancher.os.after"] = after
        return {"image": IMAGE, "command": ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.2; done"], "network_mode": "none", "labels": labels, **kw}
    return {
        "system-volumes": svc(command=["true"], labels={"io.rancher.os.createonly": "true"}, volumes=["/srv"]),
        "udev": svc(volumes_from=["system-volumes"], restart="always"),
        "syslog": svc("udev", restart="always"),
        "acpid": svc("udev", restart="always"),
        "network": svc("udev,syslog", restart="always"),
        "ntp": svc("network", restart="always"),
        "cloud-init": svc("network", command=["true"], labels={"io.rancher.os.detach": "false"}),
        "console": svc("cloud-init", restart="always"),
    }


def main(rounds: int = 3) -> None:
    root = tempfile.mkdtemp(prefix="ros-bench-", dir="/tmp")
    cfg = SystemDockerConfig(socket=f"{root}/sd.sock", data_root=f"{root}/data", exec_root=f"{root}/x",
                             pidfile=f"{root}/sd.pid", log_file=f"{root}/sd.log")
    daemon = SystemDocker(cfg)
    t0 = time.monotonic()
    daemon.start()
    client = daemon.wait_ready(60)
    print(f"system dockerd ready in {time.monotonic() - t0:.2f}s (storage driver {daemon.storage_driver})")
    try:
        repo, tag = IMAGE.split(":")
        client.api.import_image_from_data(busybox_rootfs_tar(), repository=repo, tag=tag)
        doc = {"rancher": {"services": services()}}
        cold, noop = [], []
        for _ in range(rounds):
            for c in client.containers.list(all=True):
                c.remove(force=True)
            engine = Engine(client, doc, catalog={})
            t = time.monotonic()
            report = engine.up()
            cold.append(time.monotonic() - t)
            assert report.ok and len(report.actions) == 8, report
            t = time.monotonic()
            report = engine.up()
            noop.append(time.monotonic() - t)
        print(f"up 8 services from cold: median {statistics.median(cold):.2f}s "
              f"(min {min(cold):.2f}, max {max(cold):.2f}, {rounds} rounds)")
        print(f"no-op up (nothing changed): median {statistics.median(noop) * 1000:.0f} ms "
              f"(min {min(noop) * 1000:.0f}, max {max(noop) * 1000:.0f})")
        t = time.monotonic()
        Engine(client, doc, catalog={}).stop_all(timeout_each=1)
        print(f"stop_all in reverse order: {time.monotonic() - t:.2f}s")
        for c in client.containers.list(all=True):
            c.remove(force=True)
    finally:
        client.close()
        daemon.stop(20)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
