"""`ros config` and `ros env` through click's runner: RancherOS's subcommands, flags and output shapes."""

import base64
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from rancheros.cli import main, ros
from rancheros.config.yamlio import parse_mapping

from test_config_store import config_paths, ros_env, write  # noqa: F401  (shared fixture and helpers)


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def run(config_paths):
    """Run `ros ARGS` as the console script does (RosError -> one stderr line, exit 1)."""
    def invoke(*args: str, input: str | None = None) -> Result:
        runner = CliRunner()
        env = {k: v for k, v in ros_env(config_paths).items() if k.startswith("ROS_")}
        with runner.isolation(input=input, env=env) as (out, err, _):
            code = main(list(args))
        return Result(code, out.getvalue().decode(), err.getvalue().decode())
    return invoke


def test_get_prints_rancheros_shapes(run):
    assert run("config", "get", "rancher.state.dev").out == "LABEL=RANCHER_STATE\n"
    assert run("config", "get", "rancher.debug").out == "false\n"
    assert run("config", "get", "rancher.modules").out == "[]\n"
    assert run("config", "get", "rancher.network.dns.nameservers").out == "- 10.0.2.3\n"
    assert run("config", "get", "rancher.ssh").out.startswith("keys: {}\nport: 22\n")
    unknown = run("config", "get", "rancher.no.such.key")
    assert (unknown.code, unknown.out, unknown.err) == (0, "", "")


def test_set_get_unset_round_trip(run, config_paths):
    assert run("config", "set", "rancher.network.dns.search", "[a.example, b.example]").code == 0
    assert run("config", "get", "rancher.network.dns.search").out == "- a.example\n- b.example\n"
    assert run("config", "set", "hostname", "0123").code == 0
    assert run("config", "get", "hostname").out == "0123\n"
    assert run("config", "set", "rancher.docker.tls", "true").code == 0
    assert run("config", "get", "rancher.docker.tls").out == "true\n"
    assert run("config", "set", "--json", "rancher.environment", '{"A": "1", "B": "x y"}').code == 0
    assert run("config", "get", "rancher.environment.B").out == "x y\n"
    assert run("config", "set", "rancher.docker.mtu", "-1").code == 0, "a negative number is a value"
    assert run("config", "get", "rancher.docker.mtu").out == "-1\n"
    assert run("config", "unset", "rancher.docker.mtu").code == 0
    assert run("config", "unset", "rancher.docker.tls").code == 0
    assert run("config", "get", "rancher.docker.tls").out == "false\n", "back to the default"
    local = parse_mapping(config_paths.local.read_text())
    assert local == {"rancher": {"network": {"dns": {"search": ["a.example", "b.example"]}},
                                 "environment": {"A": "1", "B": "x y"}}, "hostname": "0123"}


def test_refused_set_names_key_and_type_and_keeps_the_file(run, config_paths):
    run("config", "set", "rancher.debug", "true")
    before = config_paths.local.read_bytes()
    res = run("config", "set", "rancher.docker.tls", "notabool")
    assert res.code == 1 and res.out == ""
    assert res.err.count("\n") == 1 and "rancher.docker.tls" in res.err and "expected boolean" in res.err
    assert config_paths.local.read_bytes() == before


def test_bad_json_and_bad_keys_are_one_line_errors(run):
    for args in (("config", "set", "--json", "rancher.x", "{nope"), ("config", "get", "a..b")):
        res = run(*args)
        assert res.code == 1 and res.err.startswith("ros: ") and res.err.count("\n") == 1
        assert "Traceback" not in res.err


def test_merge_from_stdin_and_file(run, config_paths, tmp_path):
    assert run("config", "merge", input="rancher:\n  debug: true\n  modules: [loop]\n").code == 0
    (tmp_path / "m.yml").write_text("dns: [1.1.1.1]\nrancher: {modules: [kvm]}\n")
    assert run("config", "merge", "-i", str(tmp_path / "m.yml")).code == 0
    assert parse_mapping(config_paths.local.read_text()) == {"rancher": {
        "debug": True, "modules": ["kvm"], "network": {"dns": {"nameservers": ["1.1.1.1"]}}}}
    bad = run("config", "merge", input="rancher: [\n")
    assert bad.code == 1 and "<stdin>:2:1: malformed YAML" in bad.err


def test_export_redacts_secrets_unless_private(run, config_paths):
    run("config", "merge", input=(
        "rancher:\n  password: hunter2\n  ssh: {keys: {rsa: PRIV, rsa-pub: PUB, ed25519: PRIV2}}\n"
        "  docker: {ca_key: CAKEY, ca_cert: CACERT, server_key: SK}\nhostname: h\n"
        "ssh_keys: {rsa_private: RPRIV, rsa_public: RPUBLIC}\n"))
    public = run("config", "export").out
    for secret in ("hunter2", "PRIV", "CAKEY", "SK", "RPRIV"):
        assert secret not in public
    assert "rsa-pub: PUB" in public and "rsa_public: RPUBLIC" in public and "ca_cert: CACERT" in public and "hostname: h" in public
    private = parse_mapping(run("config", "export", "--private").out)
    assert private["rancher"]["ssh"]["keys"]["ed25519"] == "PRIV2"
    full = parse_mapping(run("config", "export", "--full").out)
    assert full["rancher"]["state"]["dev"] == "LABEL=RANCHER_STATE" and "password" not in full["rancher"]


def test_export_redacts_secrets_in_lists_options_and_file_contents(run):
    pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\n-----END OPENSSH PRIVATE KEY-----\n"
    b64 = base64.b64encode(pem.encode()).decode()
    doc = {"rancher": {"environment": ["DB_PASSWORD=hunter2", "HTTP_PROXY=http://p:3128"],
                       "services": {"app": {"image": "a", "environment": ["API_TOKEN=tok123", "MODE=prod"]}},
                       "network": {"interfaces": {"bond0": {"bond_opts": {"mode": "1", "secret": "bondsecret"}}}}},
           "write_files": [{"path": "/home/rancher/.ssh/id_ed25519", "content": pem},
                           {"path": "/etc/k", "encoding": "b64", "content": b64},
                           {"path": "/etc/motd", "content": "hello"}]}
    assert run("config", "merge", input=json.dumps(doc)).code == 0
    public = run("config", "export").out
    for secret in ("hunter2", "tok123", "bondsecret", "PRIVATE KEY", b64):
        assert secret not in public, secret
    shown = parse_mapping(public)
    assert shown["rancher"]["environment"] == ["HTTP_PROXY=http://p:3128"]
    assert shown["rancher"]["services"]["app"]["environment"] == ["MODE=prod"]
    assert [f.get("content") for f in shown["write_files"]] == [None, None, "hello"]
    assert shown["write_files"][0]["path"] == "/home/rancher/.ssh/id_ed25519"
    assert parse_mapping(run("config", "export", "--private").out) == doc


def test_export_to_a_file_and_empty_export(run, tmp_path):
    assert run("config", "export").out == "{}\n"
    out = tmp_path / "exported.yml"
    assert run("config", "export", "-f", "-o", str(out)).code == 0
    assert out.stat().st_mode & 0o777 == 0o600 and "system-volumes" in out.read_text()


def test_export_explain_names_the_layer_of_each_value(run, config_paths):
    write(config_paths.cmdline, "rancher.debug\n")
    write(config_paths.datasource_dir / "bad.yml", "rancher: {a: [\n")
    run("config", "set", "rancher.console", "ubuntu")
    lines = run("config", "export", "--full", "--explain").out.splitlines()
    assert lines[0].startswith("# skipped cloud-config.d/bad.yml:") and "bad.yml:2:1" in lines[0]
    assert f'rancher.console: "ubuntu"  # local ({config_paths.local})' in lines
    assert f"rancher.debug: true  # cmdline ({config_paths.cmdline})" in lines
    assert any(x.startswith('rancher.state.dev: "LABEL=RANCHER_STATE"  # defaults') for x in lines)


def test_validate_prints_every_problem_with_its_path(run, tmp_path):
    doc = "rancher:\n  docker: {tls: 3}\n  ssh: {port: x}\n  flux: 1\n"
    res = run("config", "validate", input=doc)
    assert res.code == 1
    assert "<stdin>: error: rancher.docker.tls: expected boolean, got 3" in res.err
    assert "<stdin>: error: rancher.ssh.port: expected integer, got 'x'" in res.err
    assert "<stdin>: warning: rancher.flux: unknown key" in res.out
    (tmp_path / "ok.yml").write_text("rancher: {debug: true}\n")
    assert run("config", "validate", "-i", str(tmp_path / "ok.yml")) == Result(0, "", "")
    assert run("config", "validate", str(tmp_path / "missing.yml")).code == 1


def test_images_lists_what_the_services_need(run, tmp_path):
    images = run("config", "images").out.split()
    assert "rancheros/os-console:v0.1.0" in images and "rancheros/os-docker:v0.1.0" in images
    (tmp_path / "svc.yml").write_text("rancher:\n  services:\n    extra: {image: me/extra:1}\n")
    assert "me/extra:1" in run("config", "images", "-i", str(tmp_path / "svc.yml")).out.split()


def test_config_dir_is_created_and_a_file_in_its_place_is_an_error(run, config_paths, tmp_path):
    assert not config_paths.config_dir.exists()
    assert run("config", "set", "rancher.debug", "true").code == 0
    assert config_paths.config_dir.stat().st_mode & 0o777 == 0o700
    (tmp_path / "notadir").write_text("")
    res = run("--config-dir", str(tmp_path / "notadir"), "config", "set", "rancher.debug", "true")
    assert res.code == 1 and "is not a directory" in res.err and res.err.count("\n") == 1


def test_help_lists_the_rancheros_subcommands():
    res = CliRunner().invoke(ros, ["config", "--help"])
    for name in ("get", "set", "unset", "merge", "export", "validate", "images"):
        assert f"  {name} " in res.output


def test_env_runs_a_command_with_rancher_environment(config_paths):
    env = ros_env(config_paths)
    subprocess.run([sys.executable, "-m", "rancheros", "ros", "config", "set", "--json",
                    "rancher.environment", '{"GREETING": "hi there", "N": 3}'], env=env, check=True)
    out = subprocess.run([sys.executable, "-m", "rancheros", "ros", "env", "sh", "-c", 'echo "$GREETING/$N/$HOME"'],
                         env=env, check=True, capture_output=True, text=True).stdout
    assert out == f"hi there/3/{os.environ.get('HOME', '')}\n"
    missing = subprocess.run([sys.executable, "-m", "rancheros", "ros", "env", "no-such-cmd-xyz"],
                             env=env, capture_output=True, text=True)
    assert missing.returncode == 1 and missing.stderr.startswith("ros: cannot run no-such-cmd-xyz")


def test_config_get_stays_lean(config_paths):
    """`ros config get` must not import jsonschema or the docker SDK (startup latency)."""
    code = ("import sys; from rancheros.cli import main; main(['config', 'get', 'rancher.state.dev']); "
            "print(sorted(m for m in ('jsonschema', 'docker') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], env=ros_env(config_paths),
                         check=True, capture_output=True, text=True).stdout
    assert out == "LABEL=RANCHER_STATE\n[]\n"
