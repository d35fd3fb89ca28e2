"""Issue 20 with PID 1 for real: the init of a fresh PID namespace (`unshare --pid --fork`), as in
test_init_pid1.py. Its reboot(2) ends the namespace: the parent sees it killed by SIGHUP for a restart
and SIGINT for a power-off, which proves the last step ran. Each test failed before the fix: the init
exited (the namespace ended with a status) or the reboot took PID 1's 120-s stop timeout.
"""

from __future__ import annotations

import os
import select
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


class Init:
    def __init__(self, tmp_path: Path, scenario: str, cmdline: str = "", **env: str):
        self.console = tmp_path / "console.log"
        (tmp_path / "cmdline").write_text(cmdline + "\n")
        full_env = {**os.environ, "PYTHONPATH": f"{HERE}:{REPO}", "ROS_CMDLINE": str(tmp_path / "cmdline"), **env}
        self.proc = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, str(HERE / "hardening_init.py"),
             scenario, str(self.console)], env=full_env, cwd=REPO)

    def log(self) -> str:
        return self.console.read_text() if self.console.exists() else ""

    @property
    def pid(self) -> int:
        return next(iter(psutil.Process(self.proc.pid).children())).pid

    def wait_line(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if self.proc.poll() is not None:
                pytest.fail(f"the init ended ({self.proc.returncode}) before {text!r}:\n{self.log()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {text!r} within {timeout:.0f}s:\n{self.log()}")
            time.sleep(0.05)

    def end_status(self, timeout: float = 30.0) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the init did not end the namespace within {timeout:.0f}s:\n{self.log()}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def start(tmp_path):
    made: list[Init] = []

    def run(scenario: str, **kw) -> Init:
        made.append(Init(tmp_path, scenario, **kw))
        return made[-1]
    yield run
    for i in made:
        i.close()


def test_a_failed_first_fork_is_retried_not_fatal(start):
    """The first fork ran outside the loop's guard: EAGAIN there ended PID 1 (a kernel panic)."""
    n = start("fork-fails-once")
    n.wait_line("manager started")
    assert "fork" in n.log() and "retrying in" in n.log()
    os.kill(n.pid, signal.SIGTERM)
    assert n.end_status() == -signal.SIGINT, n.log()  # reboot(RB_POWER_OFF) ran
    assert "powering off" in n.log()


def test_an_import_failure_of_the_boot_is_fatal_not_an_exit_and_panic_reboots(start):
    """init imported the boot module (yaml, psutil) outside any guard: an ImportError ended PID 1."""
    n = start("boot-import-fails", cmdline="console=ttyS0 panic=1")
    assert n.end_status() == -signal.SIGHUP, n.log()  # reboot(RB_AUTOBOOT) ran, after panic=1's second
    log = n.log()
    assert "boot failed: ModuleNotFoundError" in log and "rebooting in 1s (panic=1" in log and "rebooting" in log


def test_returning_from_the_boot_is_itself_fatal(start):
    """A boot that returned made init's main return 0: PID 1 exited."""
    n = start("boot-returns", cmdline="panic=-1")
    assert n.end_status() == -signal.SIGHUP, n.log()
    assert "PID 1 must never end" in n.log()


def test_reboot_from_the_recovery_shell_is_at_once(start):
    """The advice `reboot -f` asks PID 1 to reboot; it sent SIGTERM to the interactive shell, which ignores
    it, and waited out its 120-s stop timeout before the SIGKILL."""
    master, slave = os.openpty()
    try:
        n = start("recovery", PTY=os.ttyname(slave))
        seen, deadline = b"", time.monotonic() + 30
        while b"recovery shell" not in seen and time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                seen += os.read(master, 4096)
        assert b"reboot -f" in seen, seen
        time.sleep(0.5)  # the shell is interactive by now
        t0 = time.monotonic()
        rc = subprocess.run([sys.executable, "-m", "rancheros", "reboot", "-f"], cwd=REPO,
                            env={**os.environ, "ROS_INIT_PID": str(n.pid)}).returncode
        assert rc == 0
        assert n.end_status(timeout=20) == -signal.SIGHUP, n.log()
        assert time.monotonic() - t0 < 10, n.log()
    finally:
        os.close(master)
        os.close(slave)
