"""`ros syslog run` with the real busybox syslogd and Debian's logrotate: lines land, the file rotates.

syslogd always binds /dev/log, so the service runs in a mount namespace of its own whose /dev is a
tmpfs: /dev/log there links to the test's socket, and this machine's /dev is never touched.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("logrotate") or not shutil.which("unshare"),
                                reason="needs root (a mount namespace), logrotate and unshare")


def _send(sock_path: Path, text: str) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(f"<13>e2e: {text}".encode(), str(sock_path))


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what}: not true after {timeout}s")


def test_lines_are_written_and_the_file_rotates(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for applet in ("syslogd", "klogd"):
        (bin_dir / applet).symlink_to("/bin/busybox")
    log_file, sock = tmp_path / "log" / "messages", tmp_path / "log.sock"
    ros = [sys.executable, "-m", "rancheros", "syslog", "run", "--file", str(log_file), "--socket", str(sock),
           "--max-size", "2k", "--keep", "2", "--every", "1", "--state-dir", str(tmp_path / "state"),
           "--no-klogd"]
    inner = "mount -t tmpfs ros-test-dev /dev && mknod -m 666 /dev/null c 1 3 && exec " + " ".join(ros)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", inner], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait(sock.exists, 30, "syslogd bound the socket /dev/log links to")
        _send(sock, "first line")
        _wait(lambda: log_file.exists() and "first line" in log_file.read_text(), 10, "the line in the file")
        for i in range(40):  # ~4 KiB: past the 2k limit
            _send(sock, f"filler {i:03d} " + "x" * 80)
        _wait(lambda: (tmp_path / "log" / "messages.1").exists(), 15, "logrotate moved the full file aside")
        rotated = (tmp_path / "log" / "messages.1").read_text()
        assert "first line" in rotated and "filler 039" in rotated
        # syslogd reopens its path on the first write in a new second: a line in the same second as the
        # fillers still goes to the renamed file (nothing lost), so this one waits for the next second.
        time.sleep(1.1)
        _send(sock, "after rotation")
        _wait(lambda: log_file.exists() and "after rotation" in log_file.read_text(), 10,
              "new lines in a fresh messages")
        assert oct((tmp_path / "state" / "logrotate.conf").stat().st_mode & 0o777) == "0o644"
    finally:
        os.kill(proc.pid, signal.SIGTERM)  # ros itself (unshare and sh exec'd it): it stops its children
        try:
            out = proc.communicate(timeout=30)[0].decode(errors="replace")
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
                leftover = True
            except ProcessLookupError:
                leftover = False
    assert proc.returncode == 0, out
    assert not leftover, "syslogd outlived ros"
    assert "logrotate exited" not in out, out
