"""PID 1 for real, as the init of a fresh PID namespace (`unshare --pid --fork`).

The namespace's init adopts orphans exactly as PID 1 does on a machine, and its
reboot(2) ends the namespace: the parent sees the init killed by SIGHUP for a
restart and SIGINT for power-off/halt, which proves the last step ran.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


# ---- boot managers run inside the namespace (imported by init via --test-manager) ----

def orphan_manager() -> int:
    """Checks subprocess statuses, leaves orphans for PID 1, stops 'services' on SIGTERM."""
    import logging
    log = logging.getLogger("rancheros.test")
    marker = os.environ.get("CRASH_ONCE")
    if marker and not os.path.exists(marker):
        Path(marker).write_text("crashed")
        log.info("manager crashing on purpose")
        return 3
    log.info("manager started")
    log.info("false exited %d", subprocess.run(["false"]).returncode)
    # sh exits at once: its sleeps are orphans that PID 1 must adopt and reap.
    subprocess.run(["sh", "-c", "for i in 1 2 3; do sleep 2 & done"], check=True)
    # A stubborn leftover that only SIGKILL ends.
    subprocess.run(["sh", "-c", "(trap '' TERM; while :; do sleep 0.2; done) &"], check=True)
    log.info("orphans spawned")

    def stop(signum, frame):
        log.info("stopping services")
        time.sleep(0.2)
        log.info("services stopped")
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    while True:
        signal.pause()


# ---- test side ----

class NamespaceInit:
    """Our init as PID 1 of a new PID namespace, with its console captured to a file."""

    def __init__(self, tmp_path: Path, **env: str):
        self.console = tmp_path / "console.log"
        full_env = {**os.environ, "PYTHONPATH": f"{HERE}:{REPO}", **env}
        self.proc = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-m", "rancheros", "init",
             "--test-manager", "test_init_pid1:orphan_manager", "--console", str(self.console),
             "--kill-grace", "1"],
            env=full_env, cwd=REPO)
        self.pid = self._wait(lambda: next(iter(psutil.Process(self.proc.pid).children()), None)).pid

    def _wait(self, probe, timeout: float = 30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                got = probe()
            except psutil.Error:
                got = None
            if got:
                return got
            if self.proc.poll() is not None:
                pytest.fail(f"namespace ended early ({self.proc.returncode}):\n{self.log()}")
            time.sleep(0.05)
        pytest.fail(f"timed out waiting; console:\n{self.log()}")

    def log(self) -> str:
        return self.console.read_text() if self.console.exists() else ""

    def wait_line(self, text: str) -> None:
        self._wait(lambda: text in self.log())

    def end_status(self) -> int:
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"init did not end the namespace; console:\n{self.log()}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def ns_init(tmp_path):
    made = []

    def start(**env):
        made.append(NamespaceInit(tmp_path, **env))
        return made[-1]
    yield start
    for n in made:
        n.close()


def _adopted(init: psutil.Process) -> list[psutil.Process]:
    """Children of init running `sleep`: orphans it adopted from the manager's shells."""
    out = []
    for c in init.children():
        try:
            if c.name() == "sleep" and c.status() != psutil.STATUS_ZOMBIE:
                out.append(c)
        except psutil.NoSuchProcess:
            pass
    return out


def test_orphans_reaped_and_sigterm_powers_off(ns_init):
    n = ns_init()
    init = psutil.Process(n.pid)
    n.wait_line("orphans spawned")
    assert "false exited 1" in n.log(), "the manager must see real exit statuses"
    orphans = n._wait(lambda: len(_adopted(init)) >= 3 and _adopted(init))
    orphan_pids = [o.pid for o in orphans]
    # They exit after 2 s; PID 1 must collect them: no zombie stays in /proc.
    n._wait(lambda: not any(psutil.pid_exists(p) for p in orphan_pids))
    zombies = [c.pid for c in init.children() if c.status() == psutil.STATUS_ZOMBIE]
    assert zombies == []

    os.kill(n.pid, signal.SIGTERM)
    status = n.end_status()
    log = n.log()
    # unshare re-raises the signal that ended its child: SIGINT means reboot(RB_POWER_OFF).
    assert status == -signal.SIGINT, log
    assert log.index("shutdown requested (SIGTERM): poweroff") < log.index("stopping services") \
        < log.index("services stopped") < log.index("powering off")
    assert "processes still running" in log, "the TERM-ignoring orphan needs SIGKILL"


def test_ros_os_reboot_after_manager_restart(ns_init, tmp_path):
    n = ns_init(CRASH_ONCE=str(tmp_path / "crashed"))
    n.wait_line("orphans spawned")
    log = n.log()
    assert "boot manager exited (exit status 3); restarting in 1s" in log
    assert log.count("manager started") == 1
    rc = subprocess.run([sys.executable, "-m", "rancheros", "ros", "os", "reboot"], cwd=REPO,
                        env={**os.environ, "ROS_INIT_PID": str(n.pid)}).returncode
    assert rc == 0
    status = n.end_status()
    log = n.log()
    assert status == -signal.SIGHUP, log  # reboot(RB_AUTOBOOT) in a PID namespace
    assert log.index("shutdown requested (SIGUSR1): reboot") < log.index("stopping services") \
        < log.index("rebooting")


def test_halt_signal(ns_init):
    n = ns_init()
    n.wait_line("orphans spawned")
    os.kill(n.pid, signal.SIGUSR2)
    assert n.end_status() == -signal.SIGINT
    assert "halting" in n.log()
