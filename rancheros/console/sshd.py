"""SSH for the console: host keys kept in rancher.ssh.keys, authorized keys, a strict sshd_config."""

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from rancheros.console.accounts import Account
from rancheros.errors import RosError
from rancheros.system import command
from rancheros.network.files import write_shared

log = logging.getLogger(__name__)
KEY_TYPES = ("rsa", "ecdsa", "ed25519")
# An RSA key takes seconds to generate, tens of seconds under emulation; sshd need not wait for it.
QUICK_KEY_TYPES = ("ecdsa", "ed25519")
KEYGEN_TIMEOUT = 300.0   # an RSA key under TCG on a busy first boot takes tens of seconds


class SshError(RosError):
    """SSH host keys or sshd settings cannot be prepared."""


@dataclass(frozen=True)
class SshSettings:
    """What sshd_config is made from."""

    port: int = 22
    listen_address: str = "0.0.0.0"
    password_login: bool = False
    host_key_dir: str = "/etc/ssh"
    pidfile: str = "/run/sshd.pid"
    host_keys: tuple[str, ...] = KEY_TYPES   # the types sshd_config names (those on disk)


def host_key_path(root: Path, key_type: str) -> Path:
    return Path(root) / "etc" / "ssh" / f"ssh_host_{key_type}_key"


def present_host_keys(root: Path) -> tuple[str, ...]:
    """The key types whose private key is on disk, in KEY_TYPES order."""
    return tuple(t for t in KEY_TYPES if host_key_path(root, t).exists())


def install_host_keys(root: Path, keys: dict[str, str], save: Callable[[dict[str, str]], None],
                      generate: tuple[str, ...] = KEY_TYPES, niceness: int = 0) -> dict[str, str]:
    """Write each type's key pair from config verbatim; generate the missing ones of `generate` (at
    `niceness`) and hand them to `save`.

    Returns the generated entries in RancherOS's format (`rsa`, `rsa-pub`, ...).
    """
    generated: dict[str, str] = {}
    for t in KEY_TYPES:
        priv, pub = keys.get(t), keys.get(f"{t}-pub")
        path = host_key_path(root, t)
        if priv and pub:
            write_shared(path, priv if priv.endswith("\n") else priv + "\n", 0o600)
            write_shared(path.with_name(path.name + ".pub"), pub.strip() + "\n", 0o644)
            continue
        if t in generate:
            generated[t], generated[f"{t}-pub"] = _keygen(path, t, niceness)
    if generated:
        save(generated)
        log.info("generated SSH host keys %s, saved to rancher.ssh.keys", ", ".join(t for t in KEY_TYPES if t in generated))
    return generated


def _keygen(path: Path, key_type: str, niceness: int = 0) -> tuple[str, str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    for p in (path, path.with_name(path.name + ".pub")):
        p.unlink(missing_ok=True)
    nice = ["nice", "-n", str(niceness)] if niceness and shutil.which("nice") else []
    try:
        command.run([*nice, "ssh-keygen", "-q", "-t", key_type, "-N", "", "-C", f"rancher-{key_type}", "-f", str(path)],
                    f"ssh-keygen -t {key_type}", KEYGEN_TIMEOUT)
    except command.CommandError as e:
        raise SshError(str(e)) from None
    return path.read_text(), path.with_name(path.name + ".pub").read_text().strip()


def install_authorized_keys(root: Path, keys: list[str], account: Account = Account()) -> Path:
    """~rancher/.ssh/authorized_keys holds exactly the keys of `ssh_authorized_keys` (0600, owned by the user)."""
    ssh_dir = Path(root) / account.home.lstrip("/") / ".ssh"
    ssh_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = ssh_dir / "authorized_keys"
    write_shared(path, "".join(k.strip() + "\n" for k in keys if k and k.strip()), 0o600)
    for p in (ssh_dir, path):
        os.chown(p, account.uid, account.uid)
    os.chmod(ssh_dir, 0o700)
    return path


def render_sshd_config(s: SshSettings) -> str:
    """Root never logs in, empty passwords never do, passwords only when one is configured."""
    yes_no = "yes" if s.password_login else "no"
    lines = [
        "# written by ros console-run from rancher.ssh and rancher.password",
        f"Port {s.port}",
        f"ListenAddress {s.listen_address}",
        *[f"HostKey {s.host_key_dir}/ssh_host_{t}_key" for t in s.host_keys],
        "PermitRootLogin no",
        "PermitEmptyPasswords no",
        f"PasswordAuthentication {yes_no}",
        "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes",
        "AuthorizedKeysFile .ssh/authorized_keys",
        "UsePAM no",
        "UseDNS no",
        "PrintMotd no",
        "ClientAliveInterval 180",
        f"PidFile {s.pidfile}",
        "Subsystem sftp internal-sftp",
    ]
    return "\n".join(lines) + "\n"


def write_sshd_config(root: Path, settings: SshSettings) -> Path:
    path = Path(root) / "etc" / "ssh" / "sshd_config"
    write_shared(path, render_sshd_config(settings), 0o644)
    (Path(root) / "run" / "sshd").mkdir(parents=True, exist_ok=True, mode=0o755)  # privilege separation dir
    return path


def sshd_argv(config_path: str = "/etc/ssh/sshd_config") -> list[str]:
    """sshd in the foreground, logging to stderr (the service's log)."""
    return ["/usr/sbin/sshd", "-D", "-e", "-f", config_path]


def answers(host: str, port: int, timeout: float, every: float = 0.5) -> bool:
    """True once an SSH server on host:port sends its banner (`SSH-...`), False after `timeout` seconds."""
    import socket
    import time

    end = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=5) as s:
                s.settimeout(5)
                if s.recv(4).startswith(b"SSH-"):
                    return True
        except OSError:
            pass
        if time.monotonic() >= end:
            return False
        time.sleep(every)


def reach_address(settings: SshSettings) -> str:
    """Where a local client reaches this sshd: its own address, or loopback when it listens on all."""
    return "127.0.0.1" if settings.listen_address in ("0.0.0.0", "::", "") else settings.listen_address
