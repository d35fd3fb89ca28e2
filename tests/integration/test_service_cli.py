"""`ros service|addon|console` and `system-docker` against the session's real system dockerd."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from rancheros.cli import main as ros

pytestmark = pytest.mark.integration


@pytest.fixture
def ros_env(system_docker, busybox_image, ros_config):
    """A config dir whose local layer adds busybox services, and SYSTEM_DOCKER_HOST on the test daemon."""
    conf = ros_config({"rancher": {"services": {
        "hello": {"image": busybox_image, "command": ["sh", "-c", "echo hello-cli; exec sleep 1000"],
                  "network_mode": "none", "labels": {"io.rancher.os.scope": "system"}},
        "later": {"image": busybox_image, "command": ["sleep", "1000"], "network_mode": "none",
                  "labels": {"io.rancher.os.after": "hello"}},
    }}})
    yield conf
    for name in ("hello", "later"):
        try:
            system_docker.api.remove_container(name, force=True)
        except Exception:
            pass


def local_config(conf) -> dict:
    return yaml.safe_load((conf / "cloud-config.yml").read_text())


def test_service_up_ps_logs_stop_restart(ros_env, system_docker, capsys):
    assert ros(["service", "up", "hello", "later"]) == 0
    assert "hello: created" in capsys.readouterr().out
    assert system_docker.api.inspect_container("later")["State"]["Running"]

    assert ros(["service", "ps"]) == 0
    out = capsys.readouterr().out
    assert "hello" in out and "running" in out

    assert ros(["service", "logs", "hello"]) == 0
    assert "hello-cli" in capsys.readouterr().out

    assert ros(["service", "stop", "-t", "1", "later"]) == 0
    assert not system_docker.api.inspect_container("later")["State"]["Running"]
    assert ros(["service", "restart", "-t", "1", "later"]) == 0
    assert system_docker.api.inspect_container("later")["State"]["Running"]

    assert ros(["service", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.split()[:3] == ["enabled", "hello", "running"] for line in lines)
    assert any(line.split()[:2] == ["disabled", "ubuntu-console"] for line in lines)


def test_enable_disable_write_services_include(ros_env, capsys):
    assert ros(["service", "enable", "crond"]) == 0
    assert local_config(ros_env)["rancher"]["services_include"] == {"crond": True}
    assert ros(["addon", "enable", "qemu-guest-agent"]) == 0
    assert ros(["addon", "disable", "qemu-guest-agent"]) == 0
    assert local_config(ros_env)["rancher"]["services_include"] == {"crond": True, "qemu-guest-agent": False}
    assert local_config(ros_env)["rancher"]["services"]["hello"]  # the rest of the file kept
    capsys.readouterr()
    assert ros(["addon", "list"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["disabled", "qemu-guest-agent"] in rows and ["disabled", "open-vm-tools"] in rows
    assert all(row[1] != "crond" for row in rows)  # add-ons and consoles, no other services
    assert ["disabled", "ubuntu-console"] in rows and ["disabled", "default"] not in rows  # no console runs here

    assert ros(["console", "enable", "debian-console"]) == 0
    assert local_config(ros_env)["rancher"]["console"] == "debian-console"
    assert ros(["console", "list"]) == 0
    assert "enabled  debian-console" in capsys.readouterr().out.splitlines()  # from the next boot
    assert ros(["addon", "enable", "ubuntu-console"]) == 0  # a console is an add-on too
    assert local_config(ros_env)["rancher"]["console"] == "ubuntu-console"
    assert ros(["addon", "disable", "ubuntu-console"]) == 0
    assert local_config(ros_env)["rancher"]["console"] == "default"


def test_user_errors_are_one_line(ros_env, capsys, monkeypatch):
    before = (ros_env / "cloud-config.yml").read_bytes()
    assert ros(["service", "enable", "no-such-thing"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no-such-thing" in err and "crond" in err
    assert ros(["console", "enable", "crond"]) == 1  # a service, not a console
    assert "unknown console 'crond'" in capsys.readouterr().err
    assert (ros_env / "cloud-config.yml").read_bytes() == before

    assert ros(["service", "up", "nope"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such service: nope" in err

    monkeypatch.setenv("SYSTEM_DOCKER_HOST", "unix:///nonexistent/sd.sock")
    assert ros(["service", "ps"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not reachable at unix:///nonexistent/sd.sock" in err


def test_system_docker_applet_execs_the_docker_cli(ros_env, system_docker, system_docker_config):
    assert ros(["service", "up", "hello"]) == 0
    out = subprocess.run([sys.executable, "-m", "rancheros", "system-docker", "ps", "--format", "{{.Names}}"],
                         capture_output=True, text=True, check=True).stdout
    assert "hello" in out.split()
