"""The service engine against the session's real system dockerd, with busybox services."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from rancheros.errors import ConfigError
from rancheros.sysdocker.engine import CREATED, RECREATED, STARTED, UNCHANGED, Engine, finished_epoch

pytestmark = pytest.mark.integration


def write_stamp(path: str) -> str:
    """Shell that writes the host-wide uptime clock (10 ms resolution, same in every container) to path."""
    return f"read -r t _ < /proc/uptime; echo $t > {path}"


def svc(image: str, script: str, **kw) -> dict:
    """A busybox service running `script` with no network, plus Compose keys in kw."""
    labels = kw.pop("labels", {})
    return {"image": image, "command": ["sh", "-c", script], "network_mode": "none",
            "labels": {"io.rancher.os.scope": "system", **labels}, **kw}


def doc_of(services: dict, **rancher) -> dict:
    return {"rancher": {"services": services, **rancher}}


def engine(client, services: dict, **kw) -> Engine:
    return Engine(client, doc_of(services), catalog={}, workers=4, **kw)


def info(client, name: str) -> dict:
    return client.api.inspect_container(name)


def at(client, name: str, field: str) -> float:
    """A container's StartedAt/FinishedAt as epoch seconds (Docker trims trailing zeros: compare numbers)."""
    return finished_epoch(info(client, name)["State"][field])


def stamp(data: Path, name: str) -> float:
    return float((data / name).read_text().split()[0])


def test_order_oneshots_createonly_volumes_from(system_docker, busybox_image, clean, tmp_path):
    img = busybox_image
    def write(n: str) -> str:
        return write_stamp(f"/data/{n}")
    services = {
        "vols": svc(img, "true", volumes=[f"{tmp_path}:/data"], labels={"io.rancher.os.createonly": "true"}),
        "zero": svc(img, f"sleep 0.3; {write('zero')}", volumes_from=["vols"],
                    labels={"io.rancher.os.detach": "false", "io.rancher.os.before": "first"}),
        "first": svc(img, f"sleep 0.3; {write('first')}", volumes_from=["vols"],
                     labels={"io.rancher.os.detach": "false"}),
        "second": svc(img, f"sleep 0.2; {write('second')}", volumes_from=["vols"],
                      labels={"io.rancher.os.after": "first", "io.rancher.os.detach": "false"}),
        "third": svc(img, f"{write('third')}; exec sleep 1000", volumes_from=["vols"], depends_on=["second"]),
        "fourth": svc(img, f"{write('fourth')}; exec sleep 1000", volumes_from=["vols"],
                      labels={"io.rancher.os.after": "third"}),
        "bad": svc(img, "echo broken config >&2; exit 3", labels={"io.rancher.os.detach": "false"}),
        "after-bad": svc(img, "exec sleep 1000", labels={"io.rancher.os.after": "bad"}),
    }
    report = engine(system_docker, services).up()

    assert report.problems == []
    assert set(report.failed) == {"bad"}
    assert "exited with status 3" in report.failed["bad"] and "broken config" in report.failed["bad"]
    assert report.actions == {n: CREATED for n in services if n != "bad"}
    # One-shots ran to completion, in order, before their dependants started.
    assert stamp(tmp_path, "zero") < stamp(tmp_path, "first") < stamp(tmp_path, "second") < stamp(tmp_path, "third")
    for n in ("zero", "first", "second"):
        state = info(system_docker, n)["State"]
        assert (state["Status"], state["ExitCode"]) == ("exited", 0)
    assert at(system_docker, "third", "StartedAt") < at(system_docker, "fourth", "StartedAt")
    # createonly: created, never started; its volume reached the others through volumes_from.
    vols = info(system_docker, "vols")["State"]
    assert vols["Status"] == "created" and vols["StartedAt"].startswith("0001-")
    assert (tmp_path / "fourth").exists()
    # A failed one-shot is reported, and its dependant still started.
    assert info(system_docker, "after-bad")["State"]["Running"]
    # Next up: one-shots that succeeded this boot are not rerun; the failed one is retried.
    ran_at = stamp(tmp_path, "zero")
    again = engine(system_docker, services).up()
    assert set(again.failed) == {"bad"}
    assert again.actions == {n: UNCHANGED for n in services if n != "bad"}
    assert stamp(tmp_path, "zero") == ran_at


def test_reconcile_recreates_only_the_changed_service(system_docker, busybox_image, clean):
    services = {n: svc(busybox_image, f"echo {n}; exec sleep 1000") for n in ("alpha", "beta", "gamma")}
    services["beta"]["labels"]["io.rancher.os.after"] = "alpha"
    assert engine(system_docker, services).up().actions == {n: CREATED for n in services}
    ids = {n: info(system_docker, n)["Id"] for n in services}

    again = engine(system_docker, services).up()
    assert again.actions == {n: UNCHANGED for n in services} and again.ok
    assert {n: info(system_docker, n)["Id"] for n in services} == ids

    services["beta"]["environment"] = {"CHANGED": "1"}
    changed = engine(system_docker, services).up()
    assert changed.actions == {"alpha": UNCHANGED, "beta": RECREATED, "gamma": UNCHANGED}
    new_ids = {n: info(system_docker, n)["Id"] for n in services}
    assert new_ids["beta"] != ids["beta"]
    assert {n: new_ids[n] for n in ("alpha", "gamma")} == {n: ids[n] for n in ("alpha", "gamma")}
    assert "CHANGED=1" in info(system_docker, "beta")["Config"]["Env"]
    assert all(info(system_docker, n)["State"]["Running"] for n in services)

    # A stopped, unchanged service is started again; a disabled one is removed.
    system_docker.api.stop("gamma", timeout=1)
    del services["alpha"]
    services["beta"]["labels"].pop("io.rancher.os.after")
    last = engine(system_docker, services).up()
    assert last.removed == ["alpha"]
    assert last.actions == {"beta": RECREATED, "gamma": STARTED}
    assert {c.name for c in system_docker.containers.list(all=True)} == {"beta", "gamma"}


def test_restart_policy_restarts_a_killed_service(system_docker, busybox_image, clean):
    services = {"crashy": svc(busybox_image, "exec sleep 1000", restart="always")}
    engine(system_docker, services).up()
    before = info(system_docker, "crashy")
    os.kill(before["State"]["Pid"], signal.SIGKILL)  # a crash, not a `docker stop`
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = info(system_docker, "crashy")
        if now["RestartCount"] >= 1 and now["State"]["Running"] and now["State"]["Pid"] != before["State"]["Pid"]:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"crashy was not restarted by Docker: {now['State']}")
    assert now["Id"] == before["Id"]


def test_stop_all_in_reverse_dependency_order(system_docker, busybox_image, clean, tmp_path):
    def stopper(name: str, **kw) -> dict:
        script = (f"trap '{write_stamp(f'/data/stop-{name}')}; exit 0' TERM; "
                  f"while true; do sleep 0.05; done")
        return svc(busybox_image, script, volumes=[f"{tmp_path}:/data"], **kw)
    services = {
        "base": stopper("base"),
        "middle": stopper("middle", labels={"io.rancher.os.after": "base"}),
        "top": stopper("top", depends_on=["middle"]),
    }
    eng = engine(system_docker, services)
    eng.up()
    assert eng.stop_all(timeout_each=10) == {}
    ts = [stamp(tmp_path, f"stop-{n}") for n in ("top", "middle", "base")]
    assert ts == sorted(ts)
    finished = [at(system_docker, n, "FinishedAt") for n in ("top", "middle", "base")]
    assert finished[0] < finished[1] < finished[2]
    assert all(info(system_docker, n)["State"]["ExitCode"] == 0 for n in services)  # stopped by TERM, not KILL


def test_cycle_is_reported_and_the_rest_start(system_docker, busybox_image, clean):
    run = "exec sleep 1000"
    services = {
        "x": svc(busybox_image, run, labels={"io.rancher.os.after": "y"}),
        "y": svc(busybox_image, run, labels={"io.rancher.os.after": "x"}),
        "needs-x": svc(busybox_image, run, depends_on=["x"]),
        "free": svc(busybox_image, run, labels={"io.rancher.os.after": "ghost"}),
    }
    report = engine(system_docker, services).up()
    text = "\n".join(report.problems)
    assert "dependency cycle: x -> y -> x" in text
    assert "needs-x" in text and "ghost" in text
    assert report.actions == {"free": CREATED}
    assert [c.name for c in system_docker.containers.list(all=True)] == ["free"]


def test_missing_image_does_not_block_the_others(system_docker, busybox_image, clean):
    run = "exec sleep 1000"
    services = {
        "ghostly": svc("127.0.0.1:9/ros-missing:v1", run),  # nothing listens on port 9: pull fails fast
        "after-ghost": svc(busybox_image, run, labels={"io.rancher.os.after": "ghostly"}),
        "loner": svc(busybox_image, run),
        "no-device": svc(busybox_image, run, devices=["/dev/ros-no-such-device"]),  # create/start fails
    }
    eng = engine(system_docker, services)
    report = eng.up()
    assert set(report.failed) == {"ghostly", "no-device"}
    assert "127.0.0.1:9/ros-missing:v1" in report.failed["ghostly"]
    assert "/dev/ros-no-such-device" in report.failed["no-device"]
    assert report.actions == {"after-ghost": CREATED, "loner": CREATED}
    # Retried on the next up (still failing), the others untouched.
    again = eng.up()
    assert set(again.failed) == {"ghostly", "no-device"}
    assert again.actions == {"after-ghost": UNCHANGED, "loner": UNCHANGED}


def test_reloadconfig_reads_the_new_config_before_later_services(system_docker, busybox_image, clean):
    run = "exec sleep 1000"
    first = {"cloud": svc(busybox_image, "true", labels={"io.rancher.os.detach": "false",
                                                         "io.rancher.os.reloadconfig": "true"}),
             "console": svc(busybox_image, run, labels={"io.rancher.os.after": "cloud"})}
    reloaded = {**first,
                "console": svc(busybox_image, run, environment={"FROM": "user-data"},
                               labels={"io.rancher.os.after": "cloud"}),
                "extra": svc(busybox_image, run, labels={"io.rancher.os.after": "cloud"})}
    calls = []

    def reload() -> dict:
        calls.append(1)
        return doc_of(reloaded)
    report = Engine(system_docker, doc_of(first), reload=reload, catalog={}).up()
    assert calls == [1]
    assert report.actions == {"cloud": CREATED, "console": CREATED, "extra": CREATED}
    assert "FROM=user-data" in info(system_docker, "console")["Config"]["Env"]

    # A reload that fails keeps the previous config: the rest still starts.
    system_docker.api.remove_container("cloud", force=True)
    system_docker.api.remove_container("extra", force=True)

    def broken() -> dict:
        raise ConfigError("cloud-config.yml line 3: mapping values are not allowed here")
    report = Engine(system_docker, doc_of(reloaded), reload=broken, catalog={}).up()
    assert report.actions == {"cloud": CREATED, "console": UNCHANGED, "extra": CREATED}
    assert any("config reload failed" in p and "line 3" in p for p in report.problems)


def test_stop_restart_logs_ps(system_docker, busybox_image, clean):
    services = {"talker": svc(busybox_image, "echo hello-from-talker; exec sleep 1000"),
                "quiet": svc(busybox_image, "exec sleep 1000", labels={"io.rancher.os.after": "talker"})}
    eng = engine(system_docker, services)
    eng.up()
    assert b"hello-from-talker" in b"".join(eng.logs("talker"))
    started = at(system_docker, "talker", "StartedAt")
    eng.restart(["talker"], timeout=1)
    assert at(system_docker, "talker", "StartedAt") > started
    assert eng.stop(["quiet"], timeout=1) == {}
    states = {s.name: s.state for s in eng.ps()}
    assert states == {"talker": "running", "quiet": "exited"}


def test_host_namespaces_and_privileged_as_this_host_allows(system_docker, busybox_image, clean):
    """The boot services' shape: host pid/net/uts/ipc; "privileged" as cap_add ALL minus SYS_RESOURCE."""
    services = {"hosty": svc(busybox_image, "cat /proc/1/comm; hostname; ls /sys/class/net",
                             network_mode="host", pid="host", uts="host", ipc="host",
                             cap_add=["ALL"], cap_drop=["SYS_RESOURCE"],
                             security_opt=["seccomp=unconfined", "apparmor=unconfined"],
                             labels={"io.rancher.os.detach": "false"})}
    report = engine(system_docker, services).up()
    assert report.ok, report
    out = system_docker.api.logs("hosty").decode().split()
    with open("/proc/1/comm") as f:
        assert out[0] == f.read().strip()
    assert out[1] == os.uname().nodename
    assert set(os.listdir("/sys/class/net")) <= set(out[2:])
    host = info(system_docker, "hosty")["HostConfig"]
    assert (host["PidMode"], host["NetworkMode"], host["UTSMode"], host["IpcMode"]) == ("host",) * 4


def test_catalog_service_image_is_pulled_from_the_configured_registry(system_docker, busybox_image, registry,
                                                                      clean):
    from rancheros.sysdocker.catalog import CatalogEntry
    image = "rancheros/os-test-addon:v1"
    remote = f"{registry}/{image}"
    system_docker.images.get(busybox_image).tag(remote)
    for line in system_docker.api.push(remote, stream=True, decode=True):
        assert "error" not in line, line
    system_docker.images.remove(remote)
    with pytest.raises(Exception):
        system_docker.images.get(image)
    catalog = {"test-addon": CatalogEntry("test-addon", "addon", "", {
        "test-addon": svc(image, "exec sleep 1000")})}
    doc = {"rancher": {"services": {}, "services_include": {"test-addon": True},
                       "system_docker": {"registry": registry}}}
    report = Engine(system_docker, doc, catalog=catalog).up()
    assert report.ok and report.actions == {"test-addon": CREATED}
    assert info(system_docker, "test-addon")["State"]["Running"]
    assert system_docker.images.get(image).id == system_docker.images.get(busybox_image).id
    assert system_docker.images.get(busybox_image).tags.count(remote) == 0
    system_docker.images.remove(image)


def test_a_new_image_under_the_same_tag_recreates_the_service(system_docker, busybox_image, clean):
    from conftest import busybox_rootfs_tar
    tag = "ros-test/upgraded:v1"
    system_docker.images.get(busybox_image).tag(tag)
    services = {"upg": svc(tag, "exec sleep 1000"), "other": svc(busybox_image, "exec sleep 1000")}
    engine(system_docker, services).up()
    old = info(system_docker, "upg")["Id"]
    system_docker.api.import_image_from_data(busybox_rootfs_tar(), repository="ros-test/upgraded", tag="v1",
                                             changes=["ENV UPGRADED=1"])
    report = engine(system_docker, services).up()
    assert report.actions == {"upg": RECREATED, "other": UNCHANGED}
    assert info(system_docker, "upg")["Id"] != old
    assert "UPGRADED=1" in info(system_docker, "upg")["Config"]["Env"]
    system_docker.api.remove_container("upg", force=True)
    system_docker.images.remove(tag)


def test_independent_one_shots_run_in_parallel(system_docker, busybox_image, clean):
    oneshot = {"io.rancher.os.detach": "false"}
    services = {"p1": svc(busybox_image, "sleep 1", labels=oneshot),
                "p2": svc(busybox_image, "sleep 1", labels=oneshot),
                "joined": svc(busybox_image, "true", labels={**oneshot, "io.rancher.os.after": "p1,p2"})}
    assert engine(system_docker, services).up().ok
    start = {n: at(system_docker, n, "StartedAt") for n in services}
    end = {n: at(system_docker, n, "FinishedAt") for n in services}
    # Each started before the other finished: they overlapped. The join waited for both.
    assert start["p1"] < end["p2"] and start["p2"] < end["p1"]
    assert start["joined"] > max(end["p1"], end["p2"])


def test_a_service_whose_condition_is_false_is_skipped_and_its_dependants_start(system_docker, busybox_image,
                                                                                 clean):
    oneshot = {"io.rancher.os.detach": "false", "io.rancher.os.condition": "network-datasource"}
    services = {"cloud": svc(busybox_image, "true", labels=oneshot),
                "console": svc(busybox_image, "exec sleep 1000", labels={"io.rancher.os.after": "cloud"}),
                "odd": svc(busybox_image, "true", labels={"io.rancher.os.condition": "moon-is-full"})}
    local_only = {"cloud_init": {"datasources": ["configdrive", "cmdline"]}}
    report = Engine(system_docker, doc_of(services, **local_only), catalog={}).up()
    assert report.actions == {"cloud": "skipped", "console": CREATED}
    assert "unknown io.rancher.os.condition 'moon-is-full'" in report.failed["odd"]
    assert [c.name for c in system_docker.containers.list(all=True)] == ["console"]

    networked = {"cloud_init": {"datasources": ["configdrive", "ec2:http://127.0.0.1:9/"]}}
    report = Engine(system_docker, doc_of(services, **networked), catalog={}).up(["cloud"])
    assert report.actions == {"cloud": CREATED} and info(system_docker, "cloud")["State"]["ExitCode"] == 0


def test_dependants_of_a_service_that_reports_readiness_wait_until_it_is_ready(system_docker, busybox_image,
                                                                                clean, tmp_path, caplog):
    """The console's way of holding the other services until sshd answers: a ready file, bounded wait."""
    from rancheros.sysdocker.service import READY_DIR

    img, ready = busybox_image, {"io.rancher.os.ready": "true"}
    services = {
        "vols": svc(img, "true", volumes=[f"{tmp_path}:/data", f"{READY_DIR}:{READY_DIR}"],
                    labels={"io.rancher.os.createonly": "true"}),
        "slow": svc(img, f"sleep 1.5; {write_stamp('/data/ready')}; touch $ROS_READY_FILE; exec sleep 1000",
                    volumes_from=["vols"], labels=ready),
        "after-slow": svc(img, f"{write_stamp('/data/after')}; exec sleep 1000", volumes_from=["vols"],
                          labels={"io.rancher.os.after": "slow"}),
        "silent": svc(img, "exec sleep 1000", labels=ready),
        "after-silent": svc(img, "exec sleep 1000", labels={"io.rancher.os.after": "silent"}),
        "quits": svc(img, "exit 0", labels=ready),
        "after-quits": svc(img, "exec sleep 1000", labels={"io.rancher.os.after": "quits"}),
    }
    caplog.set_level("INFO", logger="rancheros.sysdocker.engine")
    t0 = time.monotonic()
    report = engine(system_docker, services, ready_timeout=4).up()
    assert report.ok, report
    assert stamp(tmp_path, "after") >= stamp(tmp_path, "ready")          # held until ready, then started
    assert "ROS_READY_FILE=/run/rancheros/ready/slow" in info(system_docker, "slow")["Config"]["Env"]
    # One that never says so holds its dependants for the timeout, one that exits only until it is seen gone.
    assert at(system_docker, "after-silent", "StartedAt") >= at(system_docker, "silent", "StartedAt") + 4
    assert at(system_docker, "after-quits", "StartedAt") < at(system_docker, "quits", "StartedAt") + 4
    assert time.monotonic() - t0 < 30
    text = caplog.text
    assert "service slow: ready in" in text
    assert "service silent: not ready after 4s; starting what waits for it" in text
    assert "service quits: exited before it was ready" in text
    assert all(c.status == "running" for c in system_docker.containers.list() if c.name.startswith("after"))


def _consoles(img: str) -> tuple[dict, dict]:
    """The default console as a service and a catalog console laid over it (only its name label differs)."""
    from rancheros.sysdocker.catalog import CatalogEntry

    default = {"console": svc(img, "exec sleep 1000", labels={"io.rancher.os.console": "default"})}
    other = CatalogEntry("other", "console", "another console",
                         {"console": {"labels": {"io.rancher.os.console": "other"}}})
    return default, {"other": other}


def test_a_persistent_console_keeps_its_own_files_across_switches(system_docker, busybox_image, clean):
    services, catalog = _consoles(busybox_image)

    def up(console: str, persistent: bool):
        doc = doc_of(services, console=console, console_persistent=persistent)
        return Engine(system_docker, doc, catalog=catalog).up()

    def run(cmd: str) -> bytes:
        return system_docker.containers.get("console").exec_run(["sh", "-c", cmd]).output

    assert up("default", True).actions["console"] == CREATED
    first = info(system_docker, "console")["Id"]
    run("echo default-own > /own")
    assert up("other", True).actions["console"] == RECREATED
    assert info(system_docker, "console")["Config"]["Labels"]["io.rancher.os.console"] == "other"
    kept = info(system_docker, "console-kept-default")
    assert kept["Id"] == first and not kept["State"]["Running"]
    run("echo other-own > /own")
    assert up("default", True).actions["console"] == STARTED   # the kept container, back
    assert info(system_docker, "console")["Id"] == first and run("cat /own") == b"default-own\n"
    assert up("other", True).actions["console"] == STARTED
    assert run("cat /own") == b"other-own\n"
    # `ros service ps` sees one console, not its kept siblings
    assert [s.name for s in Engine(system_docker, doc_of(services), catalog=catalog).ps()] == ["console"]
    # the option turned off: the kept consoles go at the next up, and a switch removes the old one
    assert "console-kept-default" in up("other", False).removed
    up("default", False)
    names = sorted(c.name for c in system_docker.containers.list(all=True))
    assert names == ["console"] and run("cat /own 2>&1; true") != b"default-own\n"
