"""Live apply and `--try`: what a change touches, stale network settings, the trial file's life."""

import json
import time

import pytest
from click.testing import CliRunner

from rancheros.cli import ros
from rancheros.config.paths import ConfigPaths
from rancheros.errors import ConfigError
from rancheros.live import trial
from rancheros.live.apply import redefined
from rancheros.live.plan import Plan, plan
from rancheros.network.spec import InterfaceConfig
from rancheros.network.up import stale

BASE = {"hostname": "a", "rancher": {"network": {"dns": {"nameservers": ["10.0.2.3"]},
                                                 "interfaces": {"eth*": {"dhcp": True}}},
                                     "ssh": {"port": 22}}}


def changed(**rancher) -> dict:
    doc = json.loads(json.dumps(BASE))
    for key, value in rancher.items():
        node = doc
        *parents, last = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return doc


def test_plan_names_only_what_changed():
    assert plan(BASE, BASE) == Plan()
    assert plan(BASE, changed(**{"rancher.network.dns.nameservers": ["9.9.9.9"]})) == Plan(dns=True)
    assert plan(BASE, changed(hostname="b")) == Plan(hostname="b")
    assert plan(BASE, changed(**{"rancher.ssh.port": 2200})) == Plan(ssh=True)
    assert plan(BASE, changed(ssh_authorized_keys=["ssh-ed25519 AAAA x"])).ssh
    links = ["lo", "eth0", "eth1"]
    second = changed(**{"rancher.network.interfaces.eth0": {"dhcp": True, "addresses": ["10.0.2.100/24"]}})
    p = plan(BASE, second, links)
    assert p.interfaces and p.network and not p.dhcp   # eth0's own entry keeps DHCP on: no restart
    p = plan(BASE, changed(**{"rancher.network.interfaces.eth1": {"address": "10.9.0.1/24"}}), links)
    assert p.interfaces and p.dhcp                   # eth1 leaves the eth* glob: its DHCP stops
    assert not plan(BASE, changed(**{"rancher.network.interfaces.eth5": {"dhcp": False}}), links).dhcp


def test_services_redefined_and_removed():
    before = {"a": "1", "b": "2", "c": "3"}
    assert redefined(before, {"a": "1", "b": "9", "d": "4"}) == (["b", "d"], ["c"])
    assert redefined(before, dict(before)) == ([], [])


def test_stale_addresses_and_gateways_are_what_the_config_dropped():
    applied = {"eth0": {"addresses": ["10.0.2.100/24", "10.0.2.101/24"], "gateway": "10.0.2.2"},
               "eth1": {"addresses": ["10.9.0.1/24"], "gateway": None}}
    wanted = [InterfaceConfig("eth0", dhcp=True, addresses=("10.0.2.101/24",), gateway="10.0.2.2")]
    assert stale(applied, wanted) == {"eth0": {"addresses": ["10.0.2.100/24"], "gateway": None},
                                      "eth1": {"addresses": ["10.9.0.1/24"], "gateway": None}}
    assert stale(applied, [InterfaceConfig("eth0", addresses=("10.0.2.100/24", "10.0.2.101/24"))])["eth0"] == \
        {"addresses": [], "gateway": "10.0.2.2"}
    assert stale({}, wanted) == {}


@pytest.fixture
def paths(tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    return ConfigPaths(config_dir=conf, image_config=tmp_path / "none.yml", cmdline=tmp_path / "cmdline")


def test_a_trial_reverts_when_due_and_not_before(paths):
    paths.local.write_text("hostname: before\n")
    t = trial.begin(paths, 30, "ros config set hostname after")
    paths.local.write_text("hostname: after\n")
    assert trial.pending(paths) == t
    with pytest.raises(ConfigError, match="a config trial is pending"):
        trial.begin(paths, 30, "another")
    assert trial.revert_if_due(paths, now=t.deadline - 1) is None
    assert paths.local.read_text() == "hostname: after\n"
    assert trial.revert_if_due(paths, now=t.deadline + 1) == t
    assert paths.local.read_text() == "hostname: before\n"
    assert trial.pending(paths) is None
    with pytest.raises(ConfigError, match="no config trial is pending"):
        trial.confirm(paths)


def test_a_confirmed_trial_never_reverts(paths):
    t = trial.begin(paths, 1, "ros config set rancher.ssh.port 2200")   # no local file before
    paths.local.write_text("rancher: {ssh: {port: 2200}}\n")
    assert trial.confirm(paths) == t
    assert trial.revert_if_due(paths, now=time.time() + 10) is None
    assert paths.local.read_text() == "rancher: {ssh: {port: 2200}}\n"


def test_a_trial_without_a_previous_file_reverts_to_none_and_at_boot(paths, caplog):
    trial.begin(paths, 3600, "ros config set hostname x")
    paths.local.write_text("hostname: x\n")
    trial.revert_at_boot(paths)
    assert not paths.local.exists() and trial.pending(paths) is None
    assert "was not confirmed before this boot" in caplog.text


def test_bad_seconds_and_a_broken_trial_file_are_clear_errors(paths):
    with pytest.raises(ConfigError, match="--try: 0 is not a number of seconds"):
        trial.begin(paths, 0, "x")
    trial.trial_path(paths).write_text("{nope")
    with pytest.raises(ConfigError, match="unreadable"):
        trial.pending(paths)


def test_try_needs_a_running_system_and_refuses_no_apply(paths, monkeypatch):
    monkeypatch.delenv("SYSTEM_DOCKER_HOST", raising=False)
    runner = CliRunner()
    for extra in (["--try", "30"], ["--try", "30", "--no-apply"]):
        res = runner.invoke(ros, ["--config-dir", str(paths.config_dir), "config", "set", "hostname", "x", *extra])
        assert res.exit_code != 0 and "--try" in str(res.exception or res.output)
        assert not paths.local.exists() and trial.pending(paths) is None
    res = runner.invoke(ros, ["--config-dir", str(paths.config_dir), "config", "set", "hostname", "x"])
    assert res.exit_code == 0 and "hostname: x" in paths.local.read_text()
