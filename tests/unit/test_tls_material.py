"""CA, server and client certificates: chains verify, SANs carry names and IPs, files are 0600."""

import ipaddress

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from rancheros.userdocker import run, tls


def load(path):
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_server_and_client_certificates_chain_to_one_ca(tmp_path):
    server_dir, client_dir = tmp_path / "tls", tmp_path / "client"
    tls.gen_server(server_dir, tls.server_names("rancher", ["docker.example", "192.0.2.9"], ["10.0.2.15"]))
    tls.gen_client(client_dir, server_dir)
    ca = load(server_dir / "ca.pem")
    assert load(client_dir / "ca.pem") == ca
    for leaf, usage in [(load(server_dir / "server-cert.pem"), ExtendedKeyUsageOID.SERVER_AUTH),
                        (load(client_dir / "cert.pem"), ExtendedKeyUsageOID.CLIENT_AUTH)]:
        leaf.verify_directly_issued_by(ca)
        assert list(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [usage]
    san = load(server_dir / "server-cert.pem").extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["rancher", "localhost", "docker.example"]
    assert [str(i) for i in san.get_values_for_type(x509.IPAddress)] == ["192.0.2.9", "127.0.0.1", "10.0.2.15"]
    for d in (server_dir, client_dir):
        for f in d.iterdir():
            assert f.stat().st_mode & 0o777 == 0o600, f


def test_existing_ca_is_kept_when_the_server_cert_is_regenerated(tmp_path):
    tls.gen_server(tmp_path, ["a"])
    ca = (tmp_path / "ca.pem").read_bytes()
    tls.gen_server(tmp_path, ["b"])
    assert (tmp_path / "ca.pem").read_bytes() == ca


def test_unreadable_pem_is_an_error_naming_the_file(tmp_path):
    (tmp_path / "ca.pem").write_text("garbage")
    (tmp_path / "ca-key.pem").write_text("garbage")
    with pytest.raises(tls.TLSError, match="ca.pem"):
        tls.ensure_ca(tmp_path)


def test_docker_run_generates_server_cert_only_when_tls_is_on(tmp_path):
    run.prepare_tls({"tls": False}, tmp_path / "off", "rancher", addresses=lambda: [])
    assert not (tmp_path / "off").exists()
    run.prepare_tls({"tls": True}, tmp_path / "on", "rancher", addresses=lambda: ["10.0.2.15"])
    san = load(tmp_path / "on/server-cert.pem").extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("10.0.2.15") in san.get_values_for_type(x509.IPAddress)


def test_pems_from_config_are_used_verbatim(tmp_path):
    src = tmp_path / "src"
    tls.gen_server(src, ["x"])
    pems = {k: (src / f).read_text() for k, f in
            [("ca_cert", "ca.pem"), ("ca_key", "ca-key.pem"), ("server_cert", "server-cert.pem"), ("server_key", "server-key.pem")]}
    run.prepare_tls({"tls": True, **pems}, tmp_path / "dst", "rancher", addresses=lambda: [])
    assert (tmp_path / "dst/server-cert.pem").read_text() == pems["server_cert"]
    assert (tmp_path / "dst/ca-key.pem").read_text() == pems["ca_key"]


def test_ros_tls_gen_and_generate_alias_write_where_told(tmp_path, monkeypatch):
    from rancheros.cli import main
    monkeypatch.setenv("ROS_CMDLINE", str(tmp_path / "none"))
    monkeypatch.setenv("ROS_IMAGE_CONFIG", str(tmp_path / "none.yml"))
    conf = str(tmp_path / "conf")
    assert main(["--config-dir", conf, "tls", "gen", "-s", "--hostname", "h.example", "-d", str(tmp_path / "srv")]) == 0
    assert main(["--config-dir", conf, "tls", "generate", "--dir", str(tmp_path / "cli")]) == 0
    assert sorted(p.name for p in (tmp_path / "srv").iterdir()) == ["ca-key.pem", "ca.pem", "server-cert.pem", "server-key.pem"]
    assert sorted(p.name for p in (tmp_path / "cli").iterdir()) == ["ca.pem", "cert.pem", "key.pem"]
    san = load(tmp_path / "srv/server-cert.pem").extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "h.example" in san.get_values_for_type(x509.DNSName)


def test_ros_docker_run_dry_run_prints_the_command(tmp_path, monkeypatch, capsys):
    from rancheros.cli import main
    monkeypatch.setenv("ROS_CMDLINE", str(tmp_path / "none"))
    monkeypatch.setenv("ROS_IMAGE_CONFIG", str(tmp_path / "none.yml"))
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "cloud-config.yml").write_text("rancher:\n  docker:\n    environment: [A=b]\n    extra_args: [--mtu, '1400']\n")
    assert main(["--config-dir", str(conf), "docker", "run", "--dry-run"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("A=b dockerd --group ") and out.endswith("-H unix:///var/run/docker.sock --containerd /var/run/docker/containerd/containerd.sock --mtu 1400")
