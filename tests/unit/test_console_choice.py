"""Consoles: a catalog console laid over the default one, list marks, the pull progress and mirror flags."""

import pytest

from rancheros.config import load
from rancheros.config.paths import ConfigPaths
from rancheros.console.choice import ConsoleNote, list_lines, read_note, write_note
from rancheros.errors import ConfigError, ServiceError
from rancheros.mirrors import mirror_flags
from rancheros.sysdocker.catalog import console_names, enabled_specs, load_catalog, with_console
from rancheros.sysdocker.pull import PullProgress, follow


def _defaults(tmp_path) -> dict:
    return load(ConfigPaths(config_dir=tmp_path, image_config=tmp_path / "none", cmdline=tmp_path / "none"))


def test_a_catalog_console_keeps_the_default_consoles_definition_but_its_image(tmp_path):
    doc = _defaults(tmp_path)
    default = enabled_specs(doc, load_catalog())[0]["console"]
    debian = enabled_specs(with_console(doc, "debian-console"), load_catalog())[0]["console"]
    assert debian["image"] == "rancheros/os-debianconsole:v0.1.0"
    assert debian["labels"]["io.rancher.os.console"] == "debian-console"
    assert default["labels"]["io.rancher.os.console"] == "default"
    for key in ("command", "volumes_from", "privileged", "network_mode", "restart", "cpu_shares"):
        assert debian[key] == default[key], key
    assert doc["rancher"]["console"] == "default"  # with_console copies


def test_console_names_and_list_marks():
    names = console_names(load_catalog())
    assert names[0] == "default" and {"debian-console", "ubuntu-console"} <= set(names)
    note = ConsoleNote("debian-console", "default", "could not start this boot: image missing")
    lines = list_lines(["default", "debian-console", "ubuntu-console"], "default", "debian-console", note)
    assert lines == ["current  default", "enabled  debian-console  (could not start this boot: image missing)",
                     "disabled ubuntu-console"]
    assert list_lines(["default", "debian-console"], "debian-console", "debian-console", None) == [
        "disabled default", "current  debian-console"]


def test_note_round_trip(tmp_path):
    path = tmp_path / "run" / "console.json"
    assert read_note(path) is None
    write_note(ConsoleNote("a", "default", "why"), path)
    assert read_note(path) == ConsoleNote("a", "default", "why")


def test_pull_progress_sums_layers_and_raises_stream_errors():
    said = []
    times = iter(range(0, 100, 3))
    events = [{"status": "Pulling from rancheros/x", "id": "v0.1.0"},
              {"status": "Downloading", "id": "aaa", "progressDetail": {"current": 1_000_000, "total": 4_000_000}},
              {"status": "Downloading", "id": "bbb", "progressDetail": {"current": 500_000, "total": 1_000_000}},
              {"status": "Pull complete", "id": "bbb"},
              {"status": "Already exists", "id": "ccc"}]
    progress = follow(events, "rancheros/x:v0.1.0", said.append, every=5, clock=lambda: next(times))
    assert progress.line() == "2.0/5.0 MB, 2/3 layers"
    assert said[-1] == "pulled rancheros/x:v0.1.0 (2.0/5.0 MB, 2/3 layers)"
    assert any(s.startswith("pulling rancheros/x:v0.1.0: ") for s in said[:-1])
    with pytest.raises(ServiceError, match="manifest unknown"):
        PullProgress().update({"error": "manifest unknown: manifest unknown"})


def test_mirror_flags_make_http_mirrors_insecure():
    assert mirror_flags("k", ["http://10.0.2.2:5000"]) == [
        "--registry-mirror", "http://10.0.2.2:5000", "--insecure-registry", "10.0.2.2:5000"]
    assert mirror_flags("k", ["https://m.example"], ["r:5000"]) == [
        "--registry-mirror", "https://m.example", "--insecure-registry", "r:5000"]
    with pytest.raises(ConfigError, match="k: '10.0.2.2:5000' is not a registry URL"):
        mirror_flags("k", ["10.0.2.2:5000"])


def test_system_docker_takes_a_mirror():
    from rancheros.sysdocker.daemon import SystemDockerConfig, dockerd_argv

    argv = dockerd_argv(SystemDockerConfig.from_dict({"registry_mirror": "http://10.0.2.2:5000"}), "overlay2")
    assert argv[-4:] == ["--registry-mirror", "http://10.0.2.2:5000", "--insecure-registry", "10.0.2.2:5000"]
