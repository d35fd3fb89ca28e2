"""`ros config set/unset --try` against the session's real system dockerd: only redefined services change."""

from __future__ import annotations

import threading
import time

import pytest

from rancheros.cli import main as ros
from rancheros.live import trial

pytestmark = pytest.mark.integration


@pytest.fixture
def live_env(system_docker, busybox_image, ros_config, clean):
    """A config dir with two busybox services running, and SYSTEM_DOCKER_HOST on the test daemon."""
    conf = ros_config({"rancher": {"services": {
        name: {"image": busybox_image, "command": ["sh", "-c", f"echo {name}-v1; exec sleep 1000"],
               "network_mode": "none", "restart": "unless-stopped", "labels": {"io.rancher.os.scope": "system"}}
        for name in ("alpha", "beta")}}})
    assert ros(["service", "up", "alpha", "beta"]) == 0
    return conf


def cmd_of(client, name: str) -> str:
    return client.api.inspect_container(name)["Config"]["Cmd"][-1]


def test_set_recreates_only_the_service_it_redefines_and_unset_removes(live_env, system_docker, capsys):
    capsys.readouterr()
    beta = system_docker.api.inspect_container("beta")["Id"]
    assert ros(["config", "set", "rancher.services.alpha.command", '[sh, -c, "echo alpha-v2; exec sleep 1000"]']) == 0
    out = capsys.readouterr().out
    assert "service alpha: recreated" in out and "beta" not in out
    assert cmd_of(system_docker, "alpha") == "echo alpha-v2; exec sleep 1000"
    assert system_docker.api.inspect_container("alpha")["State"]["Running"]
    assert system_docker.api.inspect_container("beta")["Id"] == beta

    assert ros(["config", "set", "rancher.debug", "true"]) == 0   # nothing running depends on it
    assert capsys.readouterr().out.strip() == "nothing running needed a change"

    assert ros(["config", "unset", "rancher.services.beta"]) == 0
    assert "service beta: removed (no longer enabled)" in capsys.readouterr().out
    assert not [c for c in system_docker.api.containers(all=True) if "/beta" in c["Names"]]

    assert ros(["config", "set", "--no-apply", "rancher.services.alpha.command", '[sleep, "1001"]']) == 0
    assert capsys.readouterr().out == ""
    assert cmd_of(system_docker, "alpha") == "echo alpha-v2; exec sleep 1000"


def _helper_in_a_thread(monkeypatch) -> list[threading.Thread]:
    """`ros config trial-wait` as the helper container would run it, in a thread of this process (the
    test daemon has no OS image to start the real helper from)."""
    threads = []

    def start(engine, seconds):
        t = threading.Thread(target=ros, args=(["config", "trial-wait"],), daemon=True)
        t.start()
        threads.append(t)
        return "thread"

    monkeypatch.setattr(trial, "start_helper", start)
    monkeypatch.setattr(trial, "remove_helper", lambda api: None)
    return threads


def test_an_unconfirmed_try_reverts_and_applies_the_previous_config(live_env, system_docker, monkeypatch, capsys):
    threads = _helper_in_a_thread(monkeypatch)
    before = (live_env / "cloud-config.yml").read_text()
    t0 = time.monotonic()
    assert ros(["config", "set", "--try", "3", "rancher.services.alpha.command", '[sh, -c, "exec sleep 999"]']) == 0
    out = capsys.readouterr().out
    assert "service alpha: recreated" in out and "ros config confirm" in out
    assert cmd_of(system_docker, "alpha") == "exec sleep 999"
    assert ros(["config", "set", "--try", "3", "hostname", "x"]) == 1          # one trial at a time
    assert "a config trial is pending" in capsys.readouterr().err
    threads[0].join(60)
    assert not threads[0].is_alive() and time.monotonic() - t0 >= 3
    assert (live_env / "cloud-config.yml").read_text() == before
    assert cmd_of(system_docker, "alpha") == "echo alpha-v1; exec sleep 1000"
    assert ros(["config", "confirm"]) == 1
    assert "no config trial is pending" in capsys.readouterr().err


def test_a_confirmed_try_stays(live_env, system_docker, monkeypatch, capsys):
    threads = _helper_in_a_thread(monkeypatch)
    assert ros(["config", "set", "--try", "3", "rancher.services.alpha.command", '[sh, -c, "exec sleep 998"]']) == 0
    assert ros(["config", "confirm"]) == 0
    assert "confirmed: ros config set rancher.services.alpha.command" in capsys.readouterr().out
    threads[0].join(60)
    assert cmd_of(system_docker, "alpha") == "exec sleep 998"
    assert "exec sleep 998" in (live_env / "cloud-config.yml").read_text()
