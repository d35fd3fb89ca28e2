"""Issue 8 in QEMU (TCG): cloud-init datasources configure a real machine at boot.

One machine, three boots on one state disk:
1. an OpenStack config drive (ISO labelled config-2, attached as a CD) with #cloud-config (SSH key,
   hostname, write_files, DNS), plus `cloud-config-url=` pointing at an HTTP server of this test on the
   host's loopback (the guest reaches it as 10.0.2.2) that serves gzipped MIME multipart user-data;
2. a NoCloud `cidata` drive instead, whose user-data is a `#!/bin/sh` script (key from meta-data);
3. a reboot with the same drive: the script does not run again for the same instance id.
"""

from __future__ import annotations

import gzip
import http.server
import json
import subprocess
import threading
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path

import pytest
import yaml

from machine import Machine

pytestmark = pytest.mark.e2e

HOSTNAME = "drive-e2e"
DNS = "8.8.4.4"
INSTANCE = "iid-nocloud-e2e-1"


def _cloud_config(doc: dict) -> str:
    return "#cloud-config\n" + yaml.safe_dump(doc)


def config_drive(workdir: Path, public_key: str) -> Path:
    """An ISO9660 config drive as OpenStack makes it (volume label config-2)."""
    return config_drive_with(workdir, _cloud_config({
        "ssh_authorized_keys": [public_key],
        "hostname": HOSTNAME,
        "write_files": [{"path": "/opt/e2e/drive.txt", "permissions": "0640", "content": "from the config drive\n"}],
        "rancher": {"network": {"dns": {"nameservers": [DNS]}}},
    }))


def config_drive_with(workdir: Path, user_data: str) -> Path:
    """A config drive (ISO9660, label config-2, OpenStack's layout) holding `user_data`."""
    root = workdir / "config-2"
    latest = root / "openstack" / "latest"
    latest.mkdir(parents=True)
    (latest / "meta_data.json").write_text(json.dumps({"uuid": "iid-configdrive-e2e", "hostname": "ignored-meta"}))
    (latest / "user_data").write_text(user_data)
    out = workdir / "config-2.iso"
    subprocess.run(["xorriso", "-as", "mkisofs", "-V", "config-2", "-J", "-R", "-o", str(out), str(root)],
                   check=True, capture_output=True)
    return out


def nocloud_drive(workdir: Path, public_key: str) -> Path:
    """A vfat image labelled CIDATA with meta-data and a #! script as user-data (as cloud-localds makes it)."""
    out = workdir / "cidata.img"
    with open(out, "wb") as f:
        f.truncate(4 << 20)
    subprocess.run(["mkfs.vfat", "-n", "CIDATA", str(out)], check=True, capture_output=True)
    meta, user = workdir / "meta-data", workdir / "user-data"
    meta.write_text(yaml.safe_dump({"instance-id": INSTANCE, "local-hostname": "nocloud-e2e",
                                    "public-keys": [public_key]}))
    user.write_text("#!/bin/sh\nmkdir -p /opt/e2e\necho ran >> /opt/e2e/nocloud-runs\necho script-output-e2e\n")
    for f in (meta, user):
        subprocess.run(["mcopy", "-i", str(out), str(f), f"::{f.name}"], check=True, capture_output=True)
    return out


def multipart_gz() -> bytes:
    """A gzipped MIME multipart: a #cloud-config part and a shell script part."""
    msg = MIMEMultipart()
    msg.attach(MIMEText(_cloud_config({
        "write_files": [{"path": "/opt/e2e/from-url.txt", "permissions": "0600", "content": "from the url\n"}],
        "rancher": {"environment": {"E2E_URL": "from-url"}},
    }), "cloud-config"))
    script = MIMEText("#!/bin/sh\necho url-script-ran > /opt/e2e/url-script.out\n", "x-shellscript")
    script.add_header("Content-Disposition", "attachment", filename="url.sh")
    msg.attach(script)
    return gzip.compress(msg.as_bytes())


class _UserData(http.server.BaseHTTPRequestHandler):
    body = b""
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.hits.append(self.path)
        if self.path != "/user-data":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def userdata_server():
    """An HTTP server on the host's 127.0.0.1 (QEMU's user network shows it to the guest at 10.0.2.2)."""
    handler = type("Handler", (_UserData,), {"body": multipart_gz(), "hits": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, handler
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def machine(artifacts, tmp_path_factory):
    m = Machine(artifacts, tmp_path_factory.mktemp("cloudinit-vm"), guest_ports=(), key_on_cmdline=False)
    yield m
    m.stop()


def _cdrom(path: Path) -> list[str]:
    return ["-drive", f"file={path},media=cdrom,readonly=on,if=ide,index=1"]


def test_config_drive_and_url_datasource(machine, userdata_server, tmp_path):
    server, handler = userdata_server
    drive = config_drive(tmp_path, machine.key.public)
    machine.start(extra_args=_cdrom(drive),
                  extra_append=f"cloud-config-url=http://10.0.2.2:{server.server_address[1]}/user-data")
    ssh = machine.ssh                                   # the key came from the config drive
    log = machine.vm.serial_text()
    assert "cloud-init local: applied user-data from configdrive:" in log
    assert ssh.out("hostname") == HOSTNAME
    assert ssh.out("sudo stat -c '%a %s' /opt/e2e/drive.txt") == "640 22"
    assert ssh.out("sudo cat /opt/e2e/drive.txt") == "from the config drive"
    assert f"nameserver {DNS}" in ssh.out("cat /etc/resolv.conf")
    assert DNS in ssh.out("sudo ros config get rancher.network.dns.nameservers")
    # the url datasource: fetched by the cloud-init service once the network was up
    assert "/user-data" in handler.hits
    assert ssh.out("sudo cat /opt/e2e/from-url.txt") == "from the url"
    assert ssh.out("sudo stat -c '%a' /opt/e2e/from-url.txt") == "600"
    assert ssh.out("sudo cat /opt/e2e/url-script.out") == "url-script-ran"
    assert ssh.out("sudo ros config get rancher.environment.E2E_URL") == "from-url"


def test_nocloud_script_runs_once_per_instance(machine, tmp_path):
    drive = nocloud_drive(tmp_path, machine.key.public)
    machine.start(extra_disks=[drive])                  # the key comes from meta-data public-keys
    ssh = machine.ssh
    assert "cloud-init local: applied user-data from nocloud:" in machine.vm.serial_text()
    assert ssh.out("hostname") == "nocloud-e2e"
    assert ssh.out("sudo cat /opt/e2e/nocloud-runs") == "ran"
    assert "script-output-e2e" in machine.vm.serial_text() or \
        "script-output-e2e" in ssh.out("sudo cat /var/log/messages", check=False)
    mark = len(machine.vm.serial_text())
    machine.reboot()
    assert ssh.out("sudo cat /opt/e2e/nocloud-runs") == "ran"      # not run again: same instance id
    assert "already ran for instance" in machine.vm.serial_text()[mark:]
