"""The multi-call binary picks its applet from argv[0] or the first argument."""

import os
import subprocess
import sys

import pytest
import yaml

from rancheros.__main__ import applet_for


@pytest.mark.parametrize("argv0,args,want", [
    ("/init", [], ("init", [])),
    ("/usr/bin/ros", ["config", "get", "x"], ("ros", ["config", "get", "x"])),
    ("/usr/bin/system-docker", ["ps"], ("system-docker", ["ps"])),
    ("/usr/lib/rancheros/ros", ["network", "up"], ("ros", ["network", "up"])),
    ("/usr/sbin/reboot", [], ("reboot", [])),
    ("python -m rancheros".split()[-1], ["system-docker", "ps"], ("system-docker", ["ps"])),
])
def test_applet_for(argv0, args, want):
    assert applet_for(argv0, args) == want


def test_syslog_handler_sends_what_came_before_the_socket_once_it_appears(tmp_path):
    """Our services log to the syslog service's socket, even what they said before it appeared."""
    import logging
    import socket

    from rancheros import log

    path = str(tmp_path / "log.sock")
    handler = log.SyslogSocketHandler("console", path)

    def record(msg):
        return logging.LogRecord("rancheros.console", logging.INFO, __file__, 1, msg, None, None)

    handler.handle(record("sshd: listening"))  # no socket yet: held, no error
    handler.handle(record("ttyS0: getty"))
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(10)   # the waiting thread looks every half second
    assert server.recv(4096).endswith(b"console: sshd: listening\x00")
    assert server.recv(4096).endswith(b"console: ttyS0: getty\x00")
    handler.handle(record("eth0: up"))
    assert server.recv(4096).endswith(b"console: eth0: up\x00")


@pytest.mark.parametrize("args, pid, want", [
    ([], 1, "init"),                   # init=/usr/lib/rancheros/ros
    (["network", "ntp"], 1, "ros"),    # PID 1 of a service container's own PID namespace
    ([], 4242, "ros"),
])
def test_pid_1_is_init_only_without_arguments(args, pid, want):
    assert applet_for("/usr/lib/rancheros/ros", args, pid=pid)[0] == want


def _env(tmp_path) -> dict:
    return {**os.environ, "ROS_CONFIG_DIR": str(tmp_path), "ROS_CMDLINE": os.devnull,
            "ROS_IMAGE_CONFIG": str(tmp_path / "none.yml")}


def _ros(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rancheros", "ros", *args], env=_env(tmp_path),
                          capture_output=True, text=True)


def test_fast_exit_keeps_output_and_status(tmp_path):
    """The binary skips the interpreter's teardown: output must still be complete, statuses intact."""
    full = _ros(tmp_path, "config", "export", "--full")
    assert full.returncode == 0, full.stderr
    assert "rancher" in yaml.safe_load(full.stdout)
    bad = _ros(tmp_path, "config", "set", "rancher.docker.tls", "notabool")
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "rancher.docker.tls" in bad.stderr


def test_closed_pipe_is_not_an_error(tmp_path):
    res = subprocess.run(f"{sys.executable} -m rancheros ros config export --full | head -c1",
                         shell=True, env=_env(tmp_path), capture_output=True, text=True)
    assert res.stdout and "Traceback" not in res.stderr and "Exception ignored" not in res.stderr
