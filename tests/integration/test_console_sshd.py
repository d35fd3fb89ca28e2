"""Real sshd with the console preparation: key login as rancher works, wrong keys and root are refused.

sshd runs in a private mount namespace where the prepared /etc/passwd, shadow, group, /etc/ssh, /home,
/root and /run are bind-mounted over the host's, as the console container would see them.
"""

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from rancheros.console import run
from rosbuild.qemu import free_port

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/usr/sbin/sshd") or not shutil.which("unshare"),
                       reason="needs root, openssh-server and unshare"),
]


def keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.with_name(path.name + ".pub").read_text().strip()


@pytest.fixture(scope="module")
def console_sshd(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("console")
    root = tmp / "root"
    (root / "etc").mkdir(parents=True)
    for f in ("passwd", "group", "shadow"):
        shutil.copy(f"/etc/{f}", root / "etc" / f)
    good = keygen(tmp / "good")
    keygen(tmp / "bad")
    port = free_port()
    saved: list[dict] = []
    doc = {"rancher": {"ssh": {"keys": {}, "port": port, "listen_address": "127.0.0.1"}, "password": ""},
           "ssh_authorized_keys": [good]}
    run.prepare(doc, root, saved.append)
    (root / "root/.ssh").mkdir(parents=True, mode=0o700)
    (root / "root/.ssh/authorized_keys").write_text(good + "\n")  # root would get in, were it permitted
    binds = [("etc/passwd", "/etc/passwd"), ("etc/shadow", "/etc/shadow"), ("etc/group", "/etc/group"),
             ("etc/ssh", "/etc/ssh"), ("home", "/home"), ("root", "/root"), ("run", "/run")]
    script = "".join(f"mount --bind {root / src} {dst} && " for src, dst in binds)
    log = open(tmp / "sshd.log", "w")
    proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                             script + "exec " + " ".join(run.sshd_argv())], stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, (tmp / "sshd.log").read_text()
            time.sleep(0.1)
        yield {"port": port, "tmp": tmp, "saved": saved[0]}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def ssh(env: dict, key: str, user: str, command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ssh", "-i", str(env["tmp"] / key), "-p", str(env["port"]), "-o", "BatchMode=yes",
                           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                           "-o", "IdentitiesOnly=yes", f"{user}@127.0.0.1", command],
                          capture_output=True, text=True, timeout=60)


def test_rancher_logs_in_with_the_configured_key_and_is_in_the_docker_group(console_sshd):
    done = ssh(console_sshd, "good", "rancher", "id -un; id -G")
    assert done.returncode == 0, done.stderr
    name, groups = done.stdout.split("\n")[:2]
    assert name == "rancher" and "1101" in groups.split()


def test_other_key_is_refused(console_sshd):
    done = ssh(console_sshd, "bad", "rancher", "true")
    assert done.returncode == 255 and "Permission denied" in done.stderr


def test_root_is_refused_even_with_an_authorized_key(console_sshd):
    done = ssh(console_sshd, "good", "root", "true")
    assert done.returncode == 255 and "Permission denied" in done.stderr


def test_server_presents_the_host_key_saved_to_config(console_sshd):
    scan = subprocess.run(["ssh-keyscan", "-p", str(console_sshd["port"]), "-t", "ed25519", "127.0.0.1"],
                          capture_output=True, text=True, timeout=30)
    offered = scan.stdout.split()[-1]
    assert offered == console_sshd["saved"]["ed25519-pub"].split()[1]


@pytest.mark.skipif(not os.path.exists("/etc/ssh/ssh_host_ed25519_key"), reason="needs a host key")
def test_settings_sshd_cannot_answer_with_are_not_kept(tmp_path):
    """A config change that would leave no way in (an address not on the machine) keeps the last good one."""
    from rancheros.console.sshd import SshSettings, render_sshd_config

    config = tmp_path / "etc/ssh/sshd_config"
    config.parent.mkdir(parents=True)
    os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation directory (the console makes its own)
    good = SshSettings(port=free_port(), listen_address="127.0.0.1", host_keys=("ed25519",),
                       pidfile=str(tmp_path / "sshd.pid"))
    config.write_text(render_sshd_config(good))
    assert run.keep_a_way_in(tmp_path, good)
    assert (tmp_path / run.GOOD_CONFIG).read_text() == config.read_text()
    taken = SshSettings(port=free_port(), listen_address="127.0.0.1", host_keys=("ed25519",),
                        pidfile=str(tmp_path / "sshd.pid"))
    with socket.socket() as squatter:   # the new port is someone else's: sshd cannot listen there
        squatter.bind(("127.0.0.1", taken.port))
        squatter.listen()
        config.write_text(render_sshd_config(taken))
        assert not run.keep_a_way_in(tmp_path, taken, timeout=3)
    assert config.read_text() == render_sshd_config(good)
