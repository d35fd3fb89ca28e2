"""The five layers from their files, and the local store: validated, atomic, locked, crash-safe."""

import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rancheros import config as cfg
from rancheros.config.paths import ConfigPaths
from rancheros.config.store import LocalStore, write_atomic
from rancheros.config.yamlio import parse_mapping
from rancheros.errors import ConfigError, StoreError, ValidationError


@pytest.fixture
def config_paths(tmp_path: Path) -> ConfigPaths:
    """A config dir, image config and kernel command line of our own (defaults are the real ones)."""
    return ConfigPaths(config_dir=tmp_path / "conf", image_config=tmp_path / "image.yml",
                       cmdline=tmp_path / "cmdline")


def ros_env(paths: ConfigPaths) -> dict:
    """Environment for a `ros` subprocess that reads the layers of `paths`."""
    return {**os.environ, "ROS_CONFIG_DIR": str(paths.config_dir),
            "ROS_IMAGE_CONFIG": str(paths.image_config), "ROS_CMDLINE": str(paths.cmdline)}


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# --- layers ------------------------------------------------------------------

def test_five_layers_in_order(config_paths):
    p = config_paths
    write(p.image_config, "rancher: {debug: true, console: image, hostname: image}\n")
    write(p.datasource_dir / "10-a.yml", "rancher: {console: ds-a, modules: [a]}\nhostname: ds\n")
    write(p.datasource_dir / "20-b.yml", "rancher: {console: ds-b}\n")
    write(p.datasource_dir / "ignored.txt", "rancher: {console: txt}\n")
    write(p.local, "rancher: {console: local, network: {dns: {nameservers: [9.9.9.9]}}}\n")
    write(p.cmdline, "quiet rancher.network.dns.search=[example.com]\n")
    doc = cfg.load(p, strict=True)
    assert doc["rancher"]["console"] == "local"
    assert doc["rancher"]["debug"] is True and doc["rancher"]["hostname"] == "image"
    assert doc["rancher"]["modules"] == ["a"] and doc["hostname"] == "ds"
    assert doc["rancher"]["network"]["dns"] == {"nameservers": ["9.9.9.9"], "search": ["example.com"]}
    assert doc["rancher"]["state"]["dev"] == "LABEL=RANCHER_STATE", "defaults underneath"
    names = [layer.name for layer in cfg.load_layers(p)]
    assert names == ["defaults", "image", "cloud-config.d/10-a.yml", "cloud-config.d/20-b.yml", "local", "cmdline"]


def test_missing_layers_are_skipped(config_paths):
    assert [layer.name for layer in cfg.load_layers(config_paths)] == ["defaults"]
    assert cfg.load(config_paths, strict=True)["rancher"]["docker"]["tls"] is False


def test_an_alias_keeps_its_layers_precedence(config_paths):
    write(config_paths.datasource_dir / "a.yml", "rancher: {state: {dev: from-ds}}\n")
    write(config_paths.local, "state: {dev: from-local-alias}\n")
    assert cfg.get(cfg.load(config_paths), "rancher.state.dev") == "from-local-alias"


def test_malformed_yaml_names_file_line_column_and_the_boot_goes_on(config_paths, caplog):
    bad = config_paths.datasource_dir / "50-bad.yml"
    write(bad, "rancher:\n  debug: true\n  modules: [a, b\n")
    write(config_paths.local, "rancher: {console: local}\n")
    with caplog.at_level(logging.ERROR, logger="rancheros.config"):
        doc = cfg.load(config_paths)
    assert doc["rancher"]["console"] == "local" and doc["rancher"]["debug"] is False
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and f"{bad}:4:1: malformed YAML" in errors[0]
    with pytest.raises(ConfigError, match=f"{bad}:4:1"):
        cfg.load(config_paths, strict=True)
    layer = next(x for x in cfg.load_layers(config_paths) if x.name == "cloud-config.d/50-bad.yml")
    assert layer.data == {} and "4:1" in layer.error


def test_a_wrongly_typed_value_is_skipped_alone_naming_layer_and_key(config_paths, caplog):
    write(config_paths.local, "rancher:\n  console: mine\n  docker: {tls: sometimes}\n"
                              "ssh_authorized_keys: [ssh-ed25519 AAAA k, 5]\n")
    write(config_paths.cmdline, "quiet rancher.network.dns=5 rancher.debug=true\n")
    with caplog.at_level(logging.ERROR, logger="rancheros.config"):
        doc = cfg.load(config_paths)
    assert doc["rancher"]["console"] == "mine" and doc["rancher"]["docker"]["tls"] is False
    assert doc["ssh_authorized_keys"] == ["ssh-ed25519 AAAA k"] and doc["rancher"]["debug"] is True
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(lines) == 3
    assert "local" in lines[0] and str(config_paths.local) in lines[0]
    assert "rancher.docker.tls: expected boolean, got 'sometimes'; that value skipped" in lines[0]
    assert "ssh_authorized_keys[1]: expected string, got 5" in lines[1]
    assert "cmdline" in lines[2] and "rancher.network.dns: expected object, got 5" in lines[2]
    with pytest.raises(ConfigError, match="rancher.docker.tls"):
        cfg.load(config_paths, strict=True)
    write(config_paths.image_config, "- a list\n")
    with pytest.raises(ConfigError, match="expected a YAML mapping"):
        cfg.load(config_paths, strict=True)


# --- store -------------------------------------------------------------------

def test_update_writes_0600_in_a_created_0700_dir(config_paths):
    store = LocalStore(config_paths)
    assert store.read() == {}
    new = store.update(lambda d: cfg.set_key(d, "rancher.ssh.keys.rsa", "PRIVATE"))
    assert new == {"rancher": {"ssh": {"keys": {"rsa": "PRIVATE"}}}} == store.read()
    assert config_paths.local.stat().st_mode & 0o777 == 0o600
    assert config_paths.config_dir.stat().st_mode & 0o777 == 0o700
    assert sorted(p.name for p in config_paths.config_dir.iterdir()) == [".cloud-config.yml.lock", "cloud-config.yml"]


def test_refused_value_leaves_the_file_byte_identical(config_paths):
    store = LocalStore(config_paths)
    store.update(lambda d: cfg.set_key(d, "rancher.console", "default"))
    before = config_paths.local.read_bytes()
    with pytest.raises(ValidationError, match=r"rancher\.docker\.tls: expected boolean, got 'notabool'"):
        store.update(lambda d: cfg.set_key(d, "rancher.docker.tls", "notabool"))
    assert config_paths.local.read_bytes() == before


def test_a_value_hidden_by_the_cmdline_is_still_refused(config_paths):
    write(config_paths.cmdline, "rancher.ssh.port=22\n")
    with pytest.raises(ValidationError, match="rancher.ssh.port: expected integer"):
        LocalStore(config_paths).update(lambda d: cfg.set_key(d, "rancher.ssh.port", "ssh"))
    assert not config_paths.local.exists()


def test_problems_of_other_layers_do_not_block_unrelated_sets(config_paths):
    write(config_paths.local, "rancher: {flux: capacitor}\n")  # an unknown key: a warning only
    LocalStore(config_paths).update(lambda d: cfg.set_key(d, "rancher.debug", True))
    assert cfg.load(config_paths, strict=True)["rancher"]["debug"] is True


def test_a_config_dir_that_is_a_file_is_one_clear_error(tmp_path):
    (tmp_path / "file").write_text("")
    paths = ConfigPaths(config_dir=tmp_path / "file", cmdline=tmp_path / "none")
    with pytest.raises(StoreError, match="is not a directory"):
        LocalStore(paths).update(lambda d: d)


def test_write_atomic_replaces_whole_files_and_cleans_up_on_failure(tmp_path):
    target = tmp_path / "f"
    write_atomic(target, b"one", 0o644)
    write_atomic(target, b"two", 0o600)
    assert target.read_bytes() == b"two" and target.stat().st_mode & 0o777 == 0o600
    with pytest.raises(StoreError, match="cannot write"):
        write_atomic(tmp_path / "missing-dir" / "f", b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_a_symlinked_config_file_stays_a_symlink_and_a_symlinked_lock_is_refused(config_paths, tmp_path):
    target = tmp_path / "elsewhere.yml"
    write(target, "hostname: one\n")
    config_paths.config_dir.mkdir()
    config_paths.local.symlink_to(target)
    LocalStore(config_paths).update(lambda d: cfg.set_key(d, "hostname", "two"))
    assert config_paths.local.is_symlink() and parse_mapping(target.read_text()) == {"hostname": "two"}
    lock = config_paths.config_dir / ".cloud-config.yml.lock"
    lock.unlink()
    lock.symlink_to(tmp_path / "victim")
    with pytest.raises(StoreError, match="is a symlink"):
        LocalStore(config_paths).update(lambda d: d)
    assert not (tmp_path / "victim").exists() and target.read_text() == "hostname: two\n"


def test_concurrent_sets_with_sigkill_lose_no_completed_update(config_paths):
    """Many `ros config set` processes on different keys; some killed mid-run: every exit-0 set survives."""
    n, rounds = 12, 2
    env = ros_env(config_paths)
    rng = random.Random(7)
    completed: dict[str, str] = {}
    killed = 0
    for r in range(rounds):
        procs = {}
        for i in range(n):
            key, value = f"rancher.environment.K{r}_{i}", f"v{r}-{i}"
            procs[key] = (value, subprocess.Popen(
                [sys.executable, "-m", "rancheros", "ros", "config", "set", key, value],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        victims = rng.sample(sorted(procs), n // 3)
        for key in victims:
            time.sleep(rng.uniform(0.05, 0.4))
            procs[key][1].send_signal(signal.SIGKILL)
        for key, (value, proc) in procs.items():
            _, err = proc.communicate(timeout=120)
            if proc.returncode == 0:
                completed[key] = value
            else:
                assert proc.returncode == -signal.SIGKILL, err.decode()
                killed += 1
        doc = parse_mapping(config_paths.local.read_text(), str(config_paths.local))
        for key, value in completed.items():
            assert cfg.get(doc, key) == value, f"completed set of {key} was lost"
    assert completed and killed, "the run had both completed and killed writers"
    LocalStore(config_paths).update(lambda d: d)  # cleans the temp files of killed writers
    assert sorted(p.name for p in config_paths.config_dir.iterdir()) == [".cloud-config.yml.lock", "cloud-config.yml"]
    assert config_paths.local.stat().st_mode & 0o777 == 0o600


def test_an_unreadable_layer_says_it_needs_sudo(tmp_path, monkeypatch):
    from rancheros.config.layers import read_layer
    path = tmp_path / "cloud-config.yml"
    path.write_text("hostname: h\n")
    real = Path.open

    def denied(self, *a, **kw):
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))  # what user rancher gets for the 0600 file
        return real(self, *a, **kw)
    monkeypatch.setattr(Path, "open", denied)
    layer = read_layer("local", path)
    assert layer.data == {} and layer.error == f"{path}: cannot read: permission denied (it is root's: use sudo)"
