"""Crash loops against the session's real system dockerd: Docker's rising backoff, seen by
`ros service status` and by the boot manager's watch of essential services."""

from __future__ import annotations

import threading
import time

import psutil
import pytest

from rancheros.sysdocker import status as service_status
from rancheros.sysdocker.engine import Engine
from rancheros.sysdocker.watch import watch_exits

pytestmark = pytest.mark.integration


def crasher(image: str, essential: bool = False, script: str = "echo boom-$RANDOM; exit 3") -> dict:
    labels = {"io.rancher.os.scope": "system", **({"io.rancher.os.essential": "true"} if essential else {})}
    return {"image": image, "command": ["sh", "-c", script], "network_mode": "none", "restart": "always",
            "labels": labels}


def up(client, services: dict) -> Engine:
    engine = Engine(client, {"rancher": {"services": services}}, catalog={})
    report = engine.up()
    assert report.ok, report
    return engine


def test_a_crash_loop_backs_off_and_status_shows_it(system_docker, busybox_image, clean):
    up(system_docker, {"crasher": crasher(busybox_image)})
    time.sleep(7)   # Docker waits 0.1, 0.2, 0.4, 0.8, 1.6, 3.2 s: about six restarts
    s = service_status.status(system_docker.api, "crasher", since=psutil.boot_time(), log_lines=3)
    assert s.restarts >= 4 and s.exit_code == 3 and s.signal is None and s.policy == "always", s
    assert len(s.delays) >= 4, s.delays
    assert all(b > a for a, b in zip(s.delays, s.delays[1:])), f"the waits must rise: {s.delays}"
    assert s.delays[0] < 0.5 and s.delays[-1] >= 0.7, s.delays
    assert s.logs and all(line.startswith("boom-") for line in s.logs), s.logs
    text = service_status.format_status(s)
    assert "last exit:  status 3" in text and "backoff:" in text


def test_the_watch_says_each_essential_exit_once_and_not_an_orderly_stop(system_docker, busybox_image, clean):
    lines: list[str] = []
    stop = threading.Event()
    thread = threading.Thread(target=watch_exits, args=(system_docker.api, stop, lines.append), daemon=True)
    thread.start()
    time.sleep(0.5)
    up(system_docker, {"net-like": crasher(busybox_image, essential=True),
                       "quiet": crasher(busybox_image, essential=False),
                       "steady": crasher(busybox_image, essential=True, script="exec sleep 1000")})
    time.sleep(4)
    mine = [line for line in lines if line.startswith("service net-like exited with status 3")]
    assert len(mine) >= 3 and not [line for line in lines if "quiet" in line], lines
    waits = [float(line.split(" in ")[1].split("s ")[0]) for line in mine]
    assert waits[:3] == [0.1, 0.2, 0.4], mine
    count = len(lines)
    system_docker.api.restart("steady", timeout=1)   # an operator's restart and stop are no crash
    system_docker.api.stop("steady", timeout=1)
    time.sleep(1)
    assert not [line for line in lines[count:] if "steady" in line], lines
    stop.set()
    thread.join(10)
    assert not thread.is_alive()
