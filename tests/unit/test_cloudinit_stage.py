"""Both cloud-init stages end to end on the host: real files, a real HTTP server on loopback."""

import base64
import gzip
import http.server
import json
import logging
import threading
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest
from cloudinit_fixtures import cloudinit_env  # noqa: F401 (a fixture)

from rancheros.cloudinit import stage
from rancheros.cloudinit.datasources import read_ec2
from rancheros.config import load


def doc_with(sources):
    return {"rancher": {"cloud_init": {"datasources": sources}}}


@pytest.fixture
def http_files():
    """A real HTTP server on 127.0.0.1 serving a dict of path -> bytes."""
    files: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            if body is not None:
                self.wfile.write(body)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield files, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_configdrive_layer_files_and_keys(cloudinit_env, tmp_path):
    paths, target = cloudinit_env
    drive = tmp_path / "drive" / "openstack" / "latest"
    drive.mkdir(parents=True)
    (drive / "user_data").write_text(
        "#cloud-config\nhostname: cd-host\nssh_authorized_keys: [ssh-ed25519 AAAAC3 user@x]\n"
        "write_files:\n  - path: /etc/motd\n    content: hi\n    permissions: '0600'\n"
        "rancher:\n  network:\n    dns:\n      nameservers: [9.9.9.9]\n")
    (drive / "meta_data.json").write_text(json.dumps({"uuid": "u1", "public_keys": {"m": "ssh-rsa AAAAB3 meta"}}))
    result = stage.run_stage(paths, doc_with([f"configdrive:{tmp_path / 'drive'}"]), network=False, target=target)
    assert result.errors == 0 and result.layer == paths.datasource_dir / "local.yml"
    merged = load(paths)
    assert merged["hostname"] == "cd-host"
    assert merged["rancher"]["network"]["dns"]["nameservers"] == ["9.9.9.9"]
    assert merged["ssh_authorized_keys"] == ["ssh-ed25519 AAAAC3 user@x", "ssh-rsa AAAAB3 meta"]
    assert (target.root / "etc/motd").read_text() == "hi"
    assert oct(result.layer.stat().st_mode & 0o777) == "0o600"


def test_nocloud_script_runs_once_per_instance(cloudinit_env, tmp_path):
    paths, target = cloudinit_env
    seed = tmp_path / "seed"
    seed.mkdir()
    marker = tmp_path / "ran"
    (seed / "user-data").write_text(f"#!/bin/sh\necho once >> {marker}\n")
    (seed / "meta-data").write_text("instance-id: iid-7\n")
    for _ in range(2):
        stage.run_stage(paths, doc_with([f"nocloud:{seed}"]), network=False, target=target)
    assert marker.read_text() == "once\n"


def test_bad_input_is_logged_and_rest_applied(cloudinit_env, tmp_path, caplog):
    paths, target = cloudinit_env
    f = tmp_path / "ud"
    f.write_text("#cloud-config\nhostname: ok-host\nrancher:\n  docker:\n    tls: notabool\n"
                 "write_files:\n  - path: /a\n    content: x\n    encoding: rot13\n  - path: /b\n    content: y\n"
                 "runcmd:\n  - exit 4\n")
    result = stage.run_stage(paths, doc_with([f"file:{f}"]), network=False, target=target)
    assert result.errors == 3
    assert load(paths)["hostname"] == "ok-host"
    assert load(paths)["rancher"]["docker"]["tls"] is False  # the bad value was dropped, the default stands
    assert (target.root / "b").read_text() == "y" and not (target.root / "a").exists()
    assert "rancher.docker.tls" in caplog.text and "rot13" in caplog.text and "failed (exit 4)" in caplog.text


def test_cmdline_base64(cloudinit_env):
    paths, target = cloudinit_env
    ud = base64.b64encode(b"#cloud-config\nhostname: from-cmdline\n").decode()
    stage.run_stage(paths, doc_with(["cmdline"]), network=False,
                    cmdline=f"quiet rancher.cloud_init.user_data={ud}", target=target)
    assert load(paths)["hostname"] == "from-cmdline"


def test_url_gzipped_mime_on_network_stage_only(cloudinit_env, http_files, tmp_path):
    paths, target = cloudinit_env
    files, base = http_files
    msg = MIMEMultipart()
    msg.attach(MIMEText("#cloud-config\nhostname: from-url\n", "cloud-config"))
    msg.attach(MIMEText(f"#!/bin/sh\necho url > {tmp_path / 'url-ran'}\n", "x-shellscript"))
    files["/ud"] = gzip.compress(msg.as_bytes())
    doc = doc_with([f"url:{base}/ud"])
    assert stage.run_stage(paths, doc, network=False, target=target).source == ""
    result = stage.run_stage(paths, doc, network=True, target=target)
    assert result.source == f"url:{base}/ud" and result.errors == 0
    assert load(paths)["hostname"] == "from-url"
    assert (tmp_path / "url-ran").read_text() == "url\n"


def test_ec2_layout(http_files):
    files, base = http_files
    files.update({
        "/latest/meta-data/instance-id": b"i-abc",
        "/latest/meta-data/local-hostname": b"ec2-host",
        "/latest/meta-data/public-keys/": b"0=mykey",
        "/latest/meta-data/public-keys/0/openssh-key": b"ssh-rsa AAAA ec2\n",
        "/latest/user-data": b"#cloud-config\nhostname: x\n",
    })
    found = read_ec2(f"{base}/latest")
    assert found.metadata.instance_id == "i-abc" and found.metadata.public_keys == ["ssh-rsa AAAA ec2"]
    assert found.userdata.startswith(b"#cloud-config")


def test_unreachable_datasource_is_one_line(cloudinit_env, caplog, monkeypatch):
    paths, target = cloudinit_env
    monkeypatch.setattr("rancheros.cloudinit.fetch.time.sleep", lambda s: None)
    caplog.set_level(logging.INFO, logger="rancheros")
    result = stage.run_stage(paths, doc_with(["url:http://127.0.0.1:9/nothing", "bogus"]), network=True,
                             target=target)
    assert result.source == ""
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 2 and "unreachable after 3 tries" in caplog.text and "unknown datasource 'bogus'" in caplog.text


def test_default_route_detection():
    from rancheros.cloudinit.fetch import has_default_route
    head = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n"
    assert has_default_route(head + "eth0\t00000000\t0202000A\t0003\t0\t0\t0\t00000000\n")
    assert not has_default_route(head + "eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\n")
