"""dockerd's command line from rancher.docker."""

import pytest

from rancheros.errors import ConfigError
from rancheros.userdocker.dockerd import DOCKER_GID, build
from pathlib import Path

TLS = Path("/var/lib/rancher/conf/tls")


def test_defaults_give_socket_with_docker_group_and_storage_driver():
    cmd = build({"host": ["unix:///var/run/docker.sock"], "storage_driver": "overlay2", "tls": False}, TLS)
    assert cmd.argv == ["dockerd", "--group", str(DOCKER_GID), "--storage-driver", "overlay2",
                        "-H", "unix:///var/run/docker.sock",
                        "--containerd", "/var/run/docker/containerd/containerd.sock"]
    assert cmd.env == {}


def test_every_key_maps_to_its_flag_in_order():
    cmd = build({"storage_driver": "vfs", "registry_mirror": "http://mirror:5000", "insecure_registry": ["r1:5000", "r2"],
                 "log_opts": {"max-size": "25m", "max-file": 2}, "environment": ["HTTP_PROXY=http://p:3128"],
                 "args": ["daemon", "--debug"], "extra_args": ["--mtu", "1400"], "data_root": "/d"}, TLS)
    a = cmd.argv
    assert a[:3] == ["dockerd", "--group", str(DOCKER_GID)]
    assert "--registry-mirror http://mirror:5000" in " ".join(a)
    assert "--insecure-registry r1:5000 --insecure-registry r2" in " ".join(a)
    assert "--log-opt max-file=2 --log-opt max-size=25m" in " ".join(a)
    assert "--data-root /d" in " ".join(a)
    assert a[-3:] == ["--debug", "--mtu", "1400"]  # args (RancherOS's leading `daemon` dropped), then extra_args
    assert "daemon" not in a
    assert cmd.env == {"HTTP_PROXY": "http://p:3128"}


def test_tls_adds_verify_certs_and_the_2376_listener():
    cmd = build({"tls": True, "host": "unix:///var/run/docker.sock", "tls_args": ["--tlsverify=true"]}, TLS)
    s = " ".join(cmd.argv)
    assert f"--tlsverify --tlscacert {TLS}/ca.pem --tlscert {TLS}/server-cert.pem --tlskey {TLS}/server-key.pem" in s
    assert "-H unix:///var/run/docker.sock -H tcp://0.0.0.0:2376" in s
    assert cmd.argv[-1] == "--tlsverify=true"


def test_tls_keeps_a_tcp_host_the_config_names():
    cmd = build({"tls": True, "host": ["tcp://127.0.0.1:12376"]}, TLS)
    assert "tcp://0.0.0.0:2376" not in cmd.argv and "tcp://127.0.0.1:12376" in cmd.argv


def test_tls_args_ignored_without_tls():
    assert "--x" not in build({"tls": False, "tls_args": ["--x"]}, TLS).argv


def test_environment_as_map_and_bad_entries():
    assert build({"environment": {"A": 1}}, TLS).env == {"A": "1"}
    with pytest.raises(ConfigError, match=r"rancher\.docker\.environment: 'NOVALUE' is not KEY=VALUE"):
        build({"environment": ["NOVALUE"]}, TLS)
    with pytest.raises(ConfigError, match=r"rancher\.docker\.log_opts: expected a map"):
        build({"log_opts": ["max-size=1m"]}, TLS)


def test_our_containerd_follows_the_exec_and_data_roots_and_an_own_one_is_left_alone():
    cmd = build({"data_root": "/d", "extra_args": ["--exec-root=/x"]}, TLS)
    assert cmd.containerd.socket == Path("/x/containerd/containerd.sock")
    assert 'root = "/d/containerd/daemon"' in cmd.containerd.config()
    assert cmd.argv[cmd.argv.index("--containerd") + 1] == "/x/containerd/containerd.sock"
    own = build({"extra_args": ["--containerd", "/run/mine.sock"]}, TLS)
    assert own.containerd is None and own.argv.count("--containerd") == 1
