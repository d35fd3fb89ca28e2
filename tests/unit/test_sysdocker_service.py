"""The Compose-subset model: parsing, validation errors, definition hash, Docker create arguments."""

import pytest
import yaml

from rancheros.config.paths import DEFAULTS_FILE
from rancheros.errors import ServiceError
from rancheros.sysdocker.service import create_args, parse_service, parse_services


def test_every_builtin_service_parses_and_maps():
    specs = yaml.safe_load(DEFAULTS_FILE.read_text())["rancher"]["services"]
    services, errors = parse_services(specs)
    assert errors == {}
    docker = create_args(services["docker"])
    assert docker.container["name"] == "docker"
    assert docker.host["privileged"] is True  # passed through for the VM, where it works
    assert docker.host["network_mode"] == "host" and docker.host["pid_mode"] == "host"
    assert docker.host["restart_policy"] == {"Name": "unless-stopped"}
    assert "/usr/sbin/dockerd:/usr/sbin/dockerd:ro" in docker.host["binds"]
    assert docker.host["volumes_from"] == ["system-volumes", "command-volumes", "user-volumes"]
    assert services["system-volumes"].createonly and not services["docker"].createonly
    assert not services["cloud-init"].detach and services["cloud-init"].reloadconfig
    assert services["docker"].requires == ["network", "console", "system-volumes", "command-volumes",
                                           "user-volumes"]


def test_mapping_of_each_key():
    svc = parse_service("s", {
        "image": "img:1", "command": "sleep 1", "entrypoint": ["/bin/sh", "-c"],
        "environment": ["A=1", "B"], "labels": {"x": True, "n": 3},
        "volumes": ["/host:/c:ro", "/anon", "named:/n"], "net": "none", "ipc": "host", "uts": "host",
        "cap_add": ["NET_ADMIN"], "cap_drop": ["MKNOD"], "devices": ["/dev/kvm"], "restart": "on-failure:3",
        "tty": True, "stdin_open": True, "read_only": True, "tmpfs": ["/run:size=1m", "/tmp"],
        "ulimits": {"nofile": {"soft": 10, "hard": 20}, "nproc": 5}, "security_opt": ["seccomp=unconfined"],
        "user": 1000, "extra_hosts": {"db": "10.0.0.1"}, "ports": ["80:80"],
    })
    a = create_args(svc, {"io.rancher.os.hash": "h"})
    assert a.container["command"] == "sleep 1" and a.container["entrypoint"] == ["/bin/sh", "-c"]
    assert a.container["environment"] == {"A": "1", "B": ""}
    assert a.container["labels"] == {"x": "true", "n": "3", "io.rancher.os.hash": "h"}
    assert a.container["volumes"] == ["/c", "/anon", "/n"] and a.container["user"] == "1000"
    assert a.container["tty"] and a.container["stdin_open"]
    assert a.host["binds"] == ["/host:/c:ro", "named:/n"]
    assert a.host["network_mode"] == "none" and a.host["ipc_mode"] == "host" and a.host["uts_mode"] == "host"
    assert "pid_mode" not in a.host and "privileged" not in a.host
    assert a.host["restart_policy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert a.host["tmpfs"] == {"/run": "size=1m", "/tmp": ""}
    assert a.host["ulimits"] == [{"Name": "nofile", "Soft": 10, "Hard": 20}, {"Name": "nproc", "Soft": 5, "Hard": 5}]
    assert a.host["cap_add"] == ["NET_ADMIN"] and a.host["devices"] == ["/dev/kvm"] and a.host["read_only"]
    assert a.host["extra_hosts"] == ["db:10.0.0.1"]


@pytest.mark.parametrize("spec, words", [
    ({"command": "x"}, ["image is required"]),
    ({"image": "i", "bogus": 1}, ["unsupported key", "bogus"]),
    ({"image": "i", "privileged": "yes"}, ["privileged: expected boolean, got 'yes'"]),
    ({"image": "i", "restart": "sometimes"}, ["restart 'sometimes'"]),
    ({"image": "i", "pid": "private"}, ["pid must be 'host'"]),
    ({"image": "i", "ulimits": {"nofile": "many"}}, ["ulimits.nofile"]),
    ({"image": "i", "labels": {"a": [1]}}, ["labels.a: expected string or number or boolean or null, got a list"]),
    ("image: i", ["must be a mapping"]),
])
def test_bad_definitions_name_the_service_and_key(spec, words):
    with pytest.raises(ServiceError) as err:
        parse_service("web", spec)
    assert str(err.value).startswith("service web: ")
    for w in words:
        assert w in str(err.value)


def test_one_bad_service_does_not_hide_the_others():
    services, errors = parse_services({"good": {"image": "a"}, "bad": {"image": 3}})
    assert list(services) == ["good"] and list(errors) == ["bad"]


def test_hash_changes_with_any_field_and_only_then():
    base = {"image": "i", "command": ["a"], "labels": {"io.rancher.os.after": "x"}}
    h = parse_service("s", base).definition_hash()
    assert parse_service("s", dict(base)).definition_hash() == h
    assert parse_service("s", {**base, "labels": {"io.rancher.os.after": "x"}, "net": None}).definition_hash() == h
    for change in ({"command": ["b"]}, {"image": "j"}, {"environment": {"A": "1"}}, {"privileged": True},
                   {"labels": {"io.rancher.os.after": "y"}}):
        assert parse_service("s", {**base, **change}).definition_hash() != h
    assert parse_service("t", base).definition_hash() != h


def test_config_bound_service_changes_hash_with_its_keys_only():
    """The user Docker reads rancher.docker at start: `ros service up docker` must recreate it on change."""
    defaults = yaml.safe_load(DEFAULTS_FILE.read_text())

    def hashes(doc):
        out = {}
        for name, spec in doc["rancher"]["services"].items():
            svc = parse_service(name, spec)
            svc.bind_config(doc)
            out[name] = svc.definition_hash()
        return out

    before = hashes(defaults)
    changed = yaml.safe_load(DEFAULTS_FILE.read_text())
    changed["rancher"]["docker"]["extra_args"] = ["--debug"]
    changed["rancher"]["network"]["dns"]["nameservers"] = ["1.1.1.1"]
    after = hashes(changed)
    assert [n for n in before if before[n] != after[n]] == ["docker"]


def test_one_field_table_gives_the_schema_the_model_and_the_api():
    """config/compose.py declares each Compose key once; the rest is derived (they had drifted: `user`)."""
    import dataclasses

    from rancheros.config import compose
    from rancheros.config.schema import RANCHER_SCHEMA, validate
    from rancheros.sysdocker.service import Service

    assert RANCHER_SCHEMA["properties"]["services"]["additionalProperties"] is compose.SCHEMA
    assert [f.name for f in dataclasses.fields(Service)] == ["name", *(f.name for f in compose.MODEL)]
    for_api = {f.name: f for f in compose.MODEL if f.api}
    svc = parse_service("s", {"image": "i", "user": 1000, "privileged": True, "restart": "always",
                              "dns": "10.0.0.1", "cpu_shares": 512, "log_driver": "json-file"})
    a = create_args(svc)
    assert a.container["user"] == "1000" and a.host["cpu_shares"] == 512 and a.host["dns"] == ["10.0.0.1"]
    assert a.host["log_config"] == {"Type": "json-file", "Config": {}}
    assert set(a.host) | set(a.container) <= {f.api.split(".")[-1] for f in for_api.values()} | {"name", "binds"}
    assert validate({"rancher": {"services": {"s": {"image": "i", "user": 1000}}}}) == []
    problems = validate({"rancher": {"services": {"s": {"image": "i", "user": [1]}}}})
    assert [str(p) for p in problems] == ["error: rancher.services.s.user: expected string or integer, got a list"]
