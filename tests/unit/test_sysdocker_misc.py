"""Pure parts of the daemon, preload, catalog, scheduler and system-docker applet."""

import threading
import time

import pytest

from rancheros.errors import DockerError, ServiceError
from rancheros.sysdocker.catalog import enabled_specs, load_catalog, parse_entry
from rancheros.sysdocker.applet import system_docker_host
from rancheros.sysdocker.daemon import SystemDockerConfig, choose_storage_driver, dockerd_argv
from rancheros.sysdocker.order import build_graph
from rancheros.sysdocker.preload import parse_manifest
from rancheros.sysdocker.scheduler import run_graph

FS = "nodev\tsysfs\nnodev\toverlay\n\text4\n"


def test_storage_driver_fallback():
    assert choose_storage_driver("overlay2", FS, "ext4") == "overlay2"
    assert choose_storage_driver("overlay2", FS, "tmpfs") == "overlay2"
    assert choose_storage_driver("overlay2", FS, "overlay") == "vfs"
    assert choose_storage_driver("overlay2", "nodev\tsysfs\n\text4\n", "ext4") == "vfs"
    assert choose_storage_driver("btrfs", "", "btrfs") == "btrfs"


def test_dockerd_argv_from_config_dict():
    cfg = SystemDockerConfig.from_dict({"socket": "/s.sock", "data_root": "/d", "preload_dir": "/p",
                                        "extra_args": ["--debug"], "unknown_key": 1})
    argv = dockerd_argv(cfg, "vfs")
    assert argv[:3] == ["dockerd", "--host", "unix:///s.sock"]
    assert argv[argv.index("--storage-driver") + 1] == "vfs"
    assert "--iptables=false" in argv and "--bridge" in argv and argv[-1] == "--debug"
    with pytest.raises(DockerError, match="extra_args"):
        SystemDockerConfig.from_dict({"extra_args": "--debug"})


def test_manifest_ids_of_docker_save_and_oci():
    m = '[{"Config":"abc.json","RepoTags":["a:1"]},{"Config":"blobs/sha256/def","RepoTags":null}]'
    imgs = parse_manifest(m)
    assert [(i.id, i.tags) for i in imgs] == [("sha256:abc", ["a:1"]), ("sha256:def", [])]


def test_catalog_files_and_console_replacement():
    catalog = load_catalog()
    assert {"ubuntu-console", "debian-console"} <= {n for n, e in catalog.items() if e.kind == "console"}
    assert any(e.kind == "addon" for e in catalog.values())
    doc = {"rancher": {"console": "ubuntu-console", "services_include": {"crond": True, "nope": True,
                                                                          "qemu-guest-agent": False},
                       "services": {"console": {"image": "default-console"}}}}
    specs, problems = enabled_specs(doc, catalog)
    assert specs["console"]["image"].startswith("rancheros/os-ubuntuconsole")
    assert "crond" in specs and "qemu-guest-agent" not in specs
    assert len(problems) == 1 and "nope" in problems[0]
    with pytest.raises(ServiceError, match="must define the service 'console'"):
        parse_entry("x", {"kind": "console", "services": {"other": {"image": "i"}}})


def test_system_docker_host_precedence():
    assert system_docker_host({"SYSTEM_DOCKER_HOST": "tcp://1.2.3.4:2375"}) == "tcp://1.2.3.4:2375"
    cfg = {"rancher": {"system_docker": {"socket": "/run/sd.sock"}}}
    assert system_docker_host({}, lambda: cfg) == "unix:///run/sd.sock"
    assert system_docker_host({}, lambda: 1 / 0) == "unix:///var/run/system-docker.sock"


def test_scheduler_runs_independent_services_in_parallel_and_dependants_after():
    g = build_graph({"a": [], "b": [], "c": ["a", "b"]})
    lock = threading.Lock()
    running, peak, log = [0], [0], []

    def action(name):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            log.append(("start", name))
        time.sleep(0.05)
        with lock:
            running[0] -= 1
            log.append(("end", name))
        if name == "b":
            raise RuntimeError("b broke")
        return name
    results = run_graph(g, action, workers=4)
    assert peak[0] == 2
    assert log.index(("start", "c")) > max(log.index(("end", "a")), log.index(("end", "b")))
    assert results["a"] == "a" and isinstance(results["b"], RuntimeError) and results["c"] == "c"


def test_scheduler_takes_a_new_graph_midway():
    g = build_graph({"init": []})
    seen = []

    def on_done(name, result):
        return build_graph({"init": [], "late": ["init"]}) if name == "init" else None
    run_graph(g, lambda n: seen.append(n), on_done=on_done)
    assert seen == ["init", "late"]
    seen.clear()
    run_graph(g, lambda n: seen.append(n), scope=["init"], on_done=on_done)
    assert seen == ["init"]


def test_finished_epoch_parses_dockers_timestamps():
    from rancheros.sysdocker.engine import finished_epoch
    assert finished_epoch("1970-01-01T00:00:10.500000000Z") == pytest.approx(10.5)
    assert finished_epoch("0001-01-01T00:00:00Z") < 0
    assert finished_epoch("garbage") == 0.0


def test_engine_on_an_unreachable_daemon_raises_docker_error(tmp_path):
    import docker

    from rancheros.sysdocker.engine import Engine
    client = docker.DockerClient(base_url=f"unix://{tmp_path}/none.sock", version="1.41")
    with pytest.raises(DockerError, match="system Docker"):
        Engine(client, {"rancher": {"services": {}}}, catalog={}).ps()


def test_network_datasource_condition_sees_config_and_cmdline():
    from rancheros.sysdocker.conditions import holds
    local = {"rancher": {"cloud_init": {"datasources": ["configdrive", "nocloud", "cmdline"]}}}
    assert not holds("network-datasource", local, "panic=10")
    assert holds("network-datasource", local, "panic=10 cloud-config-url=http://10.0.2.2/cc.yml")
    assert holds("network-datasource", {"rancher": {"cloud_init": {"datasources": ["ec2"]}}}, "")
    assert not holds("network-datasource", {}, "")
    with pytest.raises(ServiceError, match="unknown io.rancher.os.condition 'nope' \\(known: network-datasource\\)"):
        holds("nope", {}, "")
