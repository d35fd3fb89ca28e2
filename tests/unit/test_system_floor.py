"""The plumbing floor: one door for commands (every way a program can fail, said), one mount table parser."""

import pytest

from rancheros.system import command, mountinfo


def test_a_command_that_works_gives_its_output_and_takes_stdin():
    assert command.output(["cat"], "cat", 10, input="hi\n") == "hi\n"
    done = command.run(["sh", "-c", "echo out; echo err >&2; exit 3"], "both", 10, ok=None, merge_output=True)
    assert done.returncode == 3 and done.stdout == "out\nerr\n"


@pytest.mark.parametrize("argv, timeout, error, words", [
    (["no-such-program-here"], 10, command.CommandNotFound, "probe: no-such-program-here not found"),
    (["sh", "-c", "echo one >&2; echo last words >&2; exit 2"], 10, command.CommandFailed,
     "probe failed (exit 2): one; last words"),
    (["sh", "-c", "kill -SEGV $$"], 10, command.CommandFailed, "probe failed (killed by signal SIGSEGV)"),
    (["sleep", "30"], 0.2, command.CommandTimeout, "probe: no exit within 0.2s; killed"),
])
def test_every_failure_names_the_command_and_what_happened(argv, timeout, error, words):
    with pytest.raises(error) as e:
        command.run(argv, "probe", timeout)
    assert str(e.value) == words


def test_run_logged_is_one_line_and_false(caplog):
    assert command.run_logged(["true"], "true", 10)
    assert not command.run_logged(["false"], "false", 10)
    assert caplog.messages == ["false failed (exit 1)"]


INFO = ("22 1 0:5 / /proc rw - proc proc rw\n"
        "30 1 254:1 / / ro - squashfs /dev/loop0 ro\n"
        "36 30 254:4 / /mnt/a\\040b rw - ext4 /dev/vda4 rw\n"
        "37 36 0:40 / /mnt/a\\040b/run rw - tmpfs tmpfs rw\n"
        "bad line\n")


def test_mountinfo_is_parsed_once_escapes_and_all():
    entries = mountinfo.parse(INFO)
    assert [m.target for m in entries] == ["/proc", "/", "/mnt/a b", "/mnt/a b/run"]
    assert entries[2] == mountinfo.MountEntry("/mnt/a b", "ext4", "/dev/vda4")
    assert mountinfo.holding("/mnt/a b/run/x", entries).fstype == "tmpfs"
    assert mountinfo.holding("/mnt/a b/data", entries).fstype == "ext4"
    assert mountinfo.holding("/usr/bin", entries).fstype == "squashfs"
    assert mountinfo.is_mount_point("/proc") and not mountinfo.is_mount_point("/proc/self/fd")


def test_the_last_resort_respawns_the_shell_reaps_and_reboots_when_due(tmp_path):
    """PID 1's floor (rancheros/lastresort.py), in a plain process: `reboot` is an exit here."""
    import subprocess
    import sys

    shell = tmp_path / "sh"
    shell.write_text(f"#!/bin/sh\necho started >> {tmp_path}/log\n")
    shell.chmod(0o755)
    code = ("import os, time\nfrom rancheros import lastresort\n"
            f"lastresort.reap_forever(shell={str(shell)!r}, reboot_at=time.monotonic() + 2.5, reboot=lambda: os._exit(7))")
    done = subprocess.run([sys.executable, "-c", code], timeout=30)
    assert done.returncode == 7
    assert (tmp_path / "log").read_text().count("started") >= 2   # it ended, was reaped, ran again
