"""Issue 20: PID 1 with no way to exit, hang or block (the parts testable without a PID namespace).

Each test names the defect it pins; with the code before the fix each one fails (an exception, a
hang caught by a deadline, or a missing fallback), with the fix it passes.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
import threading
import time
import types

import pytest

from rancheros.init import console_stream as console, main, pid1, recovery, shutdown
from rancheros.system import libc
from rancheros.init.pid1 import Pid1, Pid1Config
from rancheros.init.shutdown import Action


class Sentinel(BaseException):
    """Raised by the fakes below to stop a path that would otherwise never return."""


# ---- 1. no exit -------------------------------------------------------------------------------------------

def test_a_malformed_init_option_is_reported_not_fatal():
    """argparse exited the process (SystemExit 2) on `--stop-timeout soon`: PID 1's exit is a kernel panic."""
    args = main._parse(["--stop-timeout", "soon", "--kill-grace=-3", "--console", "/dev/ttyS0", "quiet", "--kill-grace"])
    assert args.stop_timeout is None and args.kill_grace is None and args.console == "/dev/ttyS0"
    assert len(args.problems) == 3


def test_test_manager_is_not_reachable_as_the_machines_pid_1(monkeypatch):
    """`init --test-manager M:F` as the real PID 1 ran M:F instead of booting; now it is ignored."""
    ran = []
    monkeypatch.setattr(os, "getpid", lambda: 1)
    monkeypatch.setattr(main, "_initial_pid_namespace", lambda: True, raising=False)
    monkeypatch.setattr(pid1.Pid1, "run", lambda self: (ran.append(self.cfg), (_ for _ in ()).throw(Sentinel("pid1"))))
    fake_boot = types.ModuleType("rancheros.init.boot")

    def boot_pid1(console_path=None):
        ran.append("boot")
        raise Sentinel("boot")
    fake_boot.boot_pid1 = boot_pid1
    monkeypatch.setitem(sys.modules, "rancheros.init.boot", fake_boot)

    def fatal(error, console=None):
        ran.append(("fatal", error))
        raise Sentinel("fatal")
    monkeypatch.setattr(main, "fatal", fatal, raising=False)
    saved = logging.getLogger("rancheros").handlers[:]
    try:
        with pytest.raises(Sentinel):
            main.main(["--test-manager", "os:getcwd"])
    finally:
        logging.getLogger("rancheros").handlers[:] = saved
    assert ran[0] == "boot", ran
    assert isinstance(ran[1], tuple) and ran[1][0] == "fatal"


def test_test_mode_rule():
    assert main.test_mode_allowed(4242, True) and main.test_mode_allowed(1, False)
    assert not main.test_mode_allowed(1, True)


def test_pid1_construction_makes_no_system_call(monkeypatch):
    """Pid1() created its pipe outside the loop's guard: an EMFILE there ended PID 1."""
    def no_pipe(*a):
        raise OSError(errno.EMFILE, "Too many open files")
    monkeypatch.setattr(os, "pipe2", no_pipe)
    p = Pid1(Pid1Config(manager=lambda: 0))
    assert p.restart_at is not None  # the first start is a due restart, done inside the loop


@pytest.mark.parametrize("body_raises", [True, False])
def test_run_guarded_turns_any_failure_or_return_into_fatal(monkeypatch, body_raises):
    """Reaching the end of main is itself an error; an exception (KeyboardInterrupt too) goes to fatal."""
    seen = []

    def fatal(error, console=None):
        seen.append((type(error).__name__, console))
        raise Sentinel()
    monkeypatch.setattr(main, "fatal", fatal)

    def body():
        if body_raises:
            raise KeyboardInterrupt
    with pytest.raises(Sentinel):
        main.run_guarded(body, console=lambda: "/dev/ttyS0")
    assert seen == [("KeyboardInterrupt" if body_raises else "BootError", "/dev/ttyS0")]


@pytest.mark.parametrize("cmdline, expected", [
    ("BOOT_IMAGE=/vmlinuz panic=10 quiet", 10), ("panic=-1", -1), ("panic=0", 0), ("quiet", None),
    ("panic=x panic=5", 5), ("panic=5 panic=", 5), ("panic=0x10", 16), ('panic="3"', 3),
    ("console=ttyS0 -- panic=4", None), ("panic=99999999999999", None),
])
def test_panic_timeout(cmdline, expected):
    assert recovery.panic_timeout(cmdline) == expected


# ---- 2. no hang ------------------------------------------------------------------------------------------

def test_a_failed_fork_keeps_the_restart_timer(monkeypatch):
    """The restart timer was cleared before fork(): a fork failing with EAGAIN left no manager and no retry."""
    def no_fork():
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")
    monkeypatch.setattr(os, "fork", no_fork)
    p = Pid1(Pid1Config(manager=lambda: 0))
    p.restart_at = time.monotonic()
    try:
        p._start_manager()
    except OSError:
        pass  # the old code let it escape (to the loop's guard, which only logged it)
    assert p.manager_pid is None
    assert p.restart_at is not None and p.restart_at > time.monotonic()


def test_a_thousand_zombies_are_reaped_without_recursion(monkeypatch):
    """_has_children recursed once per zombie: ~1000 at once raised RecursionError mid-shutdown."""
    zombies = iter(range(100, 100 + 5000))

    def waitpid(pid, options):
        n = next(zombies, None)
        if n is None:
            raise ChildProcessError
        return n, 0
    monkeypatch.setattr(os, "waitpid", waitpid)
    assert shutdown._has_children() is False


def test_shutdown_reboots_even_when_a_step_fails(monkeypatch):
    """A step raising (RecursionError in the reaper, say) left the shutdown half done: no reboot(2)."""
    calls = []

    def broken(grace):
        raise RecursionError("maximum recursion depth exceeded")
    monkeypatch.setattr(shutdown, "end_all_processes", broken)
    monkeypatch.setattr(os, "sync", lambda: calls.append("sync"))
    monkeypatch.setattr(libc, "reboot", lambda cmd: calls.append(("reboot", cmd)))
    shutdown.finish(Action.REBOOT, unmount=False)
    assert calls[-1] == ("reboot", libc.RB_AUTOBOOT)


# ---- 3. no block -----------------------------------------------------------------------------------------

def test_sync_runs_under_a_watchdog(monkeypatch):
    """A sync(2) that never returns (a dead disk) kept the machine from rebooting."""
    calls, release = [], threading.Event()
    monkeypatch.setattr(shutdown, "end_all_processes", lambda grace: None)
    monkeypatch.setattr(shutdown, "SYNC_TIMEOUT", 0.3, raising=False)
    monkeypatch.setattr(os, "sync", lambda: release.wait(20))
    monkeypatch.setattr(libc, "reboot", lambda cmd: calls.append(cmd))
    t0 = time.monotonic()
    try:
        shutdown.finish(Action.POWEROFF, unmount=False)
    finally:
        release.set()
    assert calls == [libc.RB_POWER_OFF] and time.monotonic() - t0 < 5


def test_unmount_falls_back_to_a_lazy_detach(monkeypatch, tmp_path):
    """A busy mount that cannot be remounted read-only either was left attached."""
    info = tmp_path / "mountinfo"
    info.write_text("22 1 0:20 / / rw - ext4 /dev/vda rw\n30 22 0:30 / /var/lib/x rw - ext4 /dev/vdb rw\n")
    detached = []

    def umount(target, flags=0):
        if flags & libc.MNT_DETACH:
            detached.append(target)
            return
        raise OSError(errno.EBUSY, "busy", target)

    def mount(source, target, fstype=None, flags=0, data=None):
        raise OSError(errno.EBUSY, "busy", target)
    monkeypatch.setattr(libc, "umount", umount)
    monkeypatch.setattr(libc, "mount", mount)
    real_open = open
    monkeypatch.setattr("builtins.open", lambda p, *a, **k: real_open(info if p == "/proc/self/mountinfo" else p, *a, **k))
    shutdown.unmount_all()
    assert detached == ["/var/lib/x"]


def test_a_blocked_umount_does_not_stop_the_shutdown(monkeypatch, tmp_path):
    """umount(2) of a hung disk blocked PID 1 for ever; now each one is bounded and the next goes on."""
    info = tmp_path / "mountinfo"
    info.write_text("22 1 0:20 / / rw - ext4 /dev/vda rw\n30 22 0:30 / /hung rw - nfs srv:/x rw\n"
                    "31 22 0:31 / /fine rw - ext4 /dev/vdc rw\n")
    done, release = [], threading.Event()

    def umount(target, flags=0):
        if target == "/hung":
            release.wait(20)
        done.append(target)
    monkeypatch.setattr(libc, "umount", umount)
    monkeypatch.setattr(libc, "mount", lambda *a, **k: None)
    monkeypatch.setattr(shutdown, "UMOUNT_TIMEOUT", 0.3, raising=False)
    real_open = open
    monkeypatch.setattr("builtins.open", lambda p, *a, **k: real_open(info if p == "/proc/self/mountinfo" else p, *a, **k))
    t0 = time.monotonic()
    try:
        shutdown.unmount_all()
    finally:
        release.set()
    assert "/fine" in done and time.monotonic() - t0 < 5


def test_the_console_never_blocks_its_writer():
    """The console was a blocking file: a serial line held by flow control stopped PID 1 in write(2)."""
    master, slave = os.openpty()
    stream = console.open_console(os.ttyname(slave))
    handler = logging.StreamHandler(stream)
    record = logging.LogRecord("rancheros", logging.INFO, __file__, 1, "x" * 200, None, None)
    finished = threading.Event()

    def flood():
        for _ in range(5000):  # ~1 MB: far more than a pty buffers with nobody reading
            handler.emit(record)
        finished.set()
    t = threading.Thread(target=flood, daemon=True)
    t.start()
    try:
        assert finished.wait(10), "a write to the console blocked"
        os.set_blocking(master, False)
        drained = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except BlockingIOError:
                break
            drained += chunk
        handler.emit(logging.LogRecord("rancheros", logging.INFO, __file__, 1, "after", None, None))
        time.sleep(0.2)
        tail = b""
        for _ in range(50):
            try:
                tail += os.read(master, 65536)
            except BlockingIOError:
                if b"after" in tail:
                    break
                handler.flush()
                time.sleep(0.05)
        assert drained and b"lines dropped" in drained + tail
    finally:
        os.close(master)
        t.join(5)
        os.close(slave)


def _fake(tmp_path, name: str) -> None:
    path = tmp_path / name
    path.write_text("#!/bin/sh\nexec sleep 30\n")
    path.chmod(0o755)


@pytest.mark.parametrize("which", ["modprobe", "blkid", "mkfs.ext4"])
def test_every_early_boot_command_has_a_timeout_and_a_console_line(which, tmp_path, monkeypatch, caplog):
    """modprobe, blkid and mkfs ran without a timeout: one that hangs (a dead disk, a stuck probe) hung the boot."""
    from rancheros.errors import BootError
    from rancheros.init import modules, state
    from rancheros.system import blockdev

    _fake(tmp_path, which)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    monkeypatch.setattr(modules, "MODPROBE_TIMEOUT", 0.5, raising=False)
    monkeypatch.setattr(blockdev, "BLKID_TIMEOUT", 0.5, raising=False)
    monkeypatch.setattr(state, "MKFS_TIMEOUT", 0.5, raising=False)
    t0 = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="rancheros"):
        if which == "modprobe":
            assert modules._modprobe(["-q", "virtio_blk"])  # an error string, not a hang
        elif which == "blkid":
            assert blockdev.scan() == []
        else:
            with pytest.raises(BootError, match="mkfs.ext4 /dev/nonexistent: no exit within"):
                state.format_device("/dev/nonexistent", "RANCHER_STATE")   # the boot's one line
    assert time.monotonic() - t0 < 10
    if which != "mkfs.ext4":
        assert any("no exit within" in r.getMessage() for r in caplog.records)


def test_bounded_run_leaves_a_child_that_will_not_die(tmp_path, caplog):
    """A command whose pipes a grandchild keeps open is not waited for after SIGKILL."""
    from rancheros.system import command

    script = tmp_path / "stubborn"
    script.write_text("#!/bin/sh\nsleep 30 &\nsleep 30\n")
    script.chmod(0o755)
    t0 = time.monotonic()
    with pytest.raises(command.CommandTimeout, match=r"no exit within 0.3s; killed; pid \d+ did not go after SIGKILL, left behind"):
        command.run([str(script)], "stubborn", 0.3)
    assert time.monotonic() - t0 < command.KILL_WAIT + 3
