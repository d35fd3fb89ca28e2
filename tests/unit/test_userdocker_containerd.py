"""The user Docker's containerd: started, waited for (bounded, said past 5 s), its failures named."""

import socket
import subprocess
import sys
import time

import pytest

from rancheros.errors import CommandError
from rancheros.userdocker import containerd
from rancheros.userdocker.containerd import Containerd


def fake(script: str):
    """A popen that runs `script` (python) in place of containerd, with the socket path as argv[1]."""
    def popen(argv, **kw):
        return subprocess.Popen([sys.executable, "-c", script, argv[-1]], **kw)
    return popen


SERVE_LATE = """
import socket, sys, time, pathlib
conf = pathlib.Path(sys.argv[1]).read_text()
path = conf.split('address = "')[1].split('"')[0]
time.sleep(6)
s = socket.socket(socket.AF_UNIX); s.bind(path); s.listen(1); time.sleep(60)
"""


def test_a_late_containerd_is_waited_for_and_the_wait_is_said(tmp_path):
    said = []
    c = Containerd(exec_root=tmp_path / "exec", data_root=tmp_path / "data")
    t0 = time.monotonic()
    proc = containerd.start(c, timeout=30, say=said.append, popen=fake(SERVE_LATE))
    try:
        assert time.monotonic() - t0 >= 6 and containerd.answers(c.socket)
        assert said == [f"waiting for containerd to answer on {c.socket} (up to 30s)"]
    finally:
        proc.kill()
        proc.wait()


def test_a_containerd_that_exits_or_stays_silent_is_an_error(tmp_path):
    c = Containerd(exec_root=tmp_path / "exec", data_root=tmp_path / "data")
    with pytest.raises(CommandError, match="containerd exited with status 3 before it answered"):
        containerd.start(c, timeout=30, popen=fake("raise SystemExit(3)"))
    with pytest.raises(CommandError, match=r"did not answer on .* within 1s"):
        containerd.start(c, timeout=1, popen=fake("import time; time.sleep(60)"))
