"""The console container's preparation against a temp root: accounts, password, SSH keys, sshd_config."""

import os
import warnings
from pathlib import Path

import pytest

from rancheros.console import accounts, run, sshd
from rancheros.userdocker.dockerd import DOCKER_GID

RSA_PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeButVerbatimKeyForTheTest given@config"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (etc / "group").write_text("root:x:0:\ndocker:x:1101:alice\n")
    (etc / "shadow").write_text("root:*:19000:0:99999:7:::\n")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin/bash").write_text("")
    return tmp_path


@pytest.fixture(scope="module")
def host_keys(tmp_path_factory) -> dict:
    """One set of real keys (ssh-keygen is slow), given through config to the tests not about generation."""
    saved: list[dict] = []
    sshd.install_host_keys(tmp_path_factory.mktemp("keys"), {}, saved.append)
    return saved[0]


def doc(keys: dict | None = None, **rancher) -> dict:
    return {"rancher": {"ssh": {"keys": keys or {}}, **rancher}, "ssh_authorized_keys": ["ssh-ed25519 AAAA user@host"]}


def prepare(root: Path, d: dict) -> list[dict]:
    saved: list[dict] = []
    run.prepare(d, root, saved.append)
    return saved


def test_account_rancher_with_sudo_and_user_docker_group(root, host_keys):
    prepare(root, doc(host_keys))
    assert "rancher:x:1100:1100:rancher:/home/rancher:/bin/bash" in (root / "etc/passwd").read_text().splitlines()
    assert (root / "etc/passwd").read_text().startswith("root:x:0:0:")
    groups = (root / "etc/group").read_text().splitlines()
    assert f"docker:x:{DOCKER_GID}:alice,rancher" in groups and "rancher:x:1100:" in groups
    sudoers = root / "etc/sudoers.d/rancher"
    assert sudoers.read_text() == "rancher ALL=(ALL) NOPASSWD: ALL\n"
    assert sudoers.stat().st_mode & 0o777 == 0o440
    home = root / "home/rancher"
    assert (home.stat().st_uid, home.stat().st_gid) == (1100, 1100)


def test_second_run_changes_nothing_and_duplicates_nothing(root, host_keys):
    prepare(root, doc(host_keys))
    before = {p: (root / "etc" / p).read_text() for p in ("passwd", "group", "shadow")}
    prepare(root, doc(host_keys))
    assert {p: (root / "etc" / p).read_text() for p in before} == before


def test_no_password_configured_means_locked_password_and_no_password_ssh(root, host_keys):
    prepare(root, doc(host_keys, password=""))
    assert "rancher:*:" in (root / "etc/shadow").read_text()
    config = (root / "etc/ssh/sshd_config").read_text().splitlines()
    assert "PasswordAuthentication no" in config


def test_configured_password_is_hashed_into_shadow_and_enables_password_ssh(root, host_keys):
    prepare(root, doc(host_keys, password="rancher"))
    line = next(l for l in (root / "etc/shadow").read_text().splitlines() if l.startswith("rancher:"))
    hashed = line.split(":")[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    assert hashed.startswith("$6$") and crypt.crypt("rancher", hashed) == hashed
    assert "PasswordAuthentication yes" in (root / "etc/ssh/sshd_config").read_text().splitlines()
    prepare(root, doc(host_keys, password=""))  # removing it from config locks it again
    assert "rancher:*:" in (root / "etc/shadow").read_text()


def test_sshd_config_denies_root_and_empty_passwords(root, host_keys):
    prepare(root, doc(ssh={"keys": host_keys, "port": 2222, "listen_address": "127.0.0.1"}))
    text = (root / "etc/ssh/sshd_config").read_text().splitlines()
    for line in ("PermitRootLogin no", "PermitEmptyPasswords no", "Port 2222", "ListenAddress 127.0.0.1"):
        assert line in text
    assert "PubkeyAuthentication yes" in text and "UsePAM no" in text


def test_authorized_keys_are_exactly_the_configured_ones(root, host_keys):
    prepare(root, doc(host_keys))
    path = root / "home/rancher/.ssh/authorized_keys"
    assert path.read_text() == "ssh-ed25519 AAAA user@host\n"
    assert path.stat().st_mode & 0o777 == 0o600 and path.stat().st_uid == 1100
    assert (root / "home/rancher/.ssh").stat().st_mode & 0o777 == 0o700


def test_host_keys_missing_are_generated_and_saved_back_once(root):
    saved = prepare(root, doc())
    assert len(saved) == 1 and set(saved[0]) == {"rsa", "rsa-pub", "ecdsa", "ecdsa-pub", "ed25519", "ed25519-pub"}
    for t in sshd.KEY_TYPES:
        key = root / f"etc/ssh/ssh_host_{t}_key"
        assert key.read_text() == saved[0][t] and key.stat().st_mode & 0o777 == 0o600
        assert (root / f"etc/ssh/ssh_host_{t}_key.pub").read_text().strip() == saved[0][f"{t}-pub"]
    # next boot: the saved keys come from config, are used verbatim and nothing new is saved
    again = prepare(root, doc(ssh={"keys": saved[0]}))
    assert again == []
    assert (root / "etc/ssh/ssh_host_ed25519_key").read_text() == saved[0]["ed25519"]


def test_first_boot_serves_quick_keys_and_makes_rsa_meanwhile(root):
    """sshd starts with ecdsa and ed25519; RSA (slow to generate) is made beside it and saved for later."""
    saved: list[dict] = []
    run.prepare(doc(), root, saved.append, generate=sshd.QUICK_KEY_TYPES)
    assert len(saved) == 1 and set(saved[0]) == {"ecdsa", "ecdsa-pub", "ed25519", "ed25519-pub"}
    hostkeys = [l for l in (root / "etc/ssh/sshd_config").read_text().splitlines() if l.startswith("HostKey")]
    assert hostkeys == ["HostKey /etc/ssh/ssh_host_ecdsa_key", "HostKey /etc/ssh/ssh_host_ed25519_key"]
    thread = run.generate_late_keys(root, saved.append)
    thread.join(timeout=120)
    assert len(saved) == 2 and set(saved[1]) == {"rsa", "rsa-pub"}
    assert (root / "etc/ssh/ssh_host_rsa_key").read_text() == saved[1]["rsa"]
    assert run.generate_late_keys(root, saved.append) is None     # nothing left to make
    # the next start has all three from config and names them all
    run.prepare(doc({**saved[0], **saved[1]}), root, saved.append, generate=sshd.QUICK_KEY_TYPES)
    assert len(saved) == 2
    assert "HostKey /etc/ssh/ssh_host_rsa_key" in (root / "etc/ssh/sshd_config").read_text().splitlines()


def test_host_keys_from_config_are_written_verbatim(root):
    keys = {"ed25519": "-----BEGIN OPENSSH PRIVATE KEY-----\nverbatim\n-----END OPENSSH PRIVATE KEY-----",
            "ed25519-pub": RSA_PUB}
    written: list[dict] = []
    sshd.install_host_keys(root, keys, written.append)
    assert (root / "etc/ssh/ssh_host_ed25519_key").read_text() == keys["ed25519"] + "\n"
    assert (root / "etc/ssh/ssh_host_ed25519_key.pub").read_text() == RSA_PUB + "\n"
    assert set(written[0]) == {"rsa", "rsa-pub", "ecdsa", "ecdsa-pub"}  # only the missing types


def test_system_docker_socket_is_made_root_only(root, host_keys):
    sock = root / "var/run/system-docker.sock"
    sock.parent.mkdir(parents=True)
    sock.write_text("")
    os.chown(sock, 1100, 1101)
    os.chmod(sock, 0o666)
    prepare(root, doc(host_keys))
    st = sock.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, 0, 0o660)


def test_gettys_only_for_ttys_present(root):
    (root / "dev").mkdir()
    (root / "dev/ttyS0").write_text("")
    cmds = run.getty_commands(root)
    assert list(cmds) == ["getty ttyS0"] and "ttyS0" in cmds["getty ttyS0"]


def test_start_script_runs_when_executable(root):
    script = root / run.START_SCRIPT
    script.parent.mkdir(parents=True)
    script.write_text(f"#!/bin/sh\necho ran > {root}/ran\n")
    script.chmod(0o755)
    run.run_start_script(root)
    assert (root / "ran").read_text() == "ran\n"


def test_upsert_and_group_membership_are_pure():
    assert accounts.upsert("a:1\nb:2\n", "b", "b:3") == "a:1\nb:3\n"
    assert accounts.with_member("docker:x:5:a\n", "docker", 9, "rancher") == "docker:x:9:a,rancher\n"
    assert accounts.with_member("", "docker", 9, "rancher") == "docker:x:9:rancher\n"


def test_host_keys_not_saved_when_the_local_layer_is_broken(tmp_path, caplog):
    """A malformed local config must not stop the console: the keys are kept for this boot only."""
    from rancheros.cli.console_cmd import save_host_keys
    from rancheros.config.paths import ConfigPaths
    paths = ConfigPaths(config_dir=tmp_path)
    paths.local.write_text("rancher: [unclosed\n")
    save_host_keys(paths, {"ed25519-pub": "ssh-ed25519 AAAA x"})
    assert paths.local.read_text() == "rancher: [unclosed\n"
    assert "host keys not saved" in caplog.text


def test_power_commands_replace_the_images_and_ros_keeps_an_existing_file(root):
    frozen = root / run.FROZEN.lstrip("/")  # links point at the container's path of the binary
    frozen.parent.mkdir(parents=True)
    frozen.write_text("")
    (root / "usr/sbin").mkdir(parents=True)
    (root / "usr/sbin/poweroff").symlink_to("../../bin/busybox")  # what the image's busybox left there
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/ros").write_text("a ros of the user's own")
    run.link_applets(root)
    run.link_applets(root)  # idempotent
    for name in run.POWER_APPLETS:
        assert os.readlink(root / "usr/sbin" / name) == run.FROZEN
    assert os.readlink(root / "usr/bin/system-docker") == run.FROZEN
    assert (root / "usr/bin/ros").read_text() == "a ros of the user's own"
    assert sorted(p.name for p in (root / "usr/sbin").iterdir()) == sorted(run.POWER_APPLETS)


def test_readiness_is_reported_where_the_written_sshd_config_listens():
    from rancheros.console.run import listening_on
    assert listening_on("# x\nPort 2200\nListenAddress 0.0.0.0\n") == ("127.0.0.1", 2200)
    assert listening_on("Port 22\nListenAddress 10.0.2.15\n") == ("10.0.2.15", 22)
    assert listening_on("") == ("127.0.0.1", 22)


def test_a_service_that_reports_readiness_is_told_where_and_others_are_not():
    from rancheros.sysdocker.service import create_args, parse_service
    ready = parse_service("console", {"image": "i", "environment": {"A": "1"},
                                      "labels": {"io.rancher.os.ready": "true"}})
    plain = parse_service("udev", {"image": "i", "labels": {"io.rancher.os.ready": "no"}})
    assert ready.ready_file == "/run/rancheros/ready/console" and plain.ready_file is None
    assert create_args(ready).container["environment"] == {"A": "1", "ROS_READY_FILE": "/run/rancheros/ready/console"}
    assert "environment" not in create_args(plain).container
