"""`ros console-run`: prepare the console container, run start.sh, then keep sshd and the gettys running."""

import dataclasses
import logging
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Callable

from rancheros.system import command
from rancheros.console.accounts import USER, ensure_account, set_password
from rancheros.system.respawn import Respawner
from rancheros.console.sshd import (KEY_TYPES, QUICK_KEY_TYPES, SshError, SshSettings, answers,
                                    install_authorized_keys, install_host_keys, present_host_keys,
                                    reach_address, render_sshd_config, sshd_argv, write_sshd_config)

log = logging.getLogger(__name__)
TTYS = (("ttyS0", "vt102"), ("tty1", "linux"))
START_SCRIPT = "opt/rancher/bin/start.sh"
START_SCRIPT_TIMEOUT = 600.0             # the operator's start.sh runs before the console is complete
FROZEN = "/usr/lib/rancheros/ros"          # the multi-call binary, bind-mounted by command-volumes
APPLETS = ("ros", "system-docker")        # names it answers to (argv[0] dispatch), put on the PATH
# Busybox's would signal PID 1 busybox's way (USR2 = power-off, TERM = reboot): ours say what they mean.
POWER_APPLETS = ("reboot", "poweroff", "halt", "shutdown")


def _rancher(doc: dict) -> dict:
    return doc.get("rancher") or {}


def ssh_settings(doc: dict) -> SshSettings:
    """Port and address from rancher.ssh; password login exactly when rancher.password is set."""
    ssh = _rancher(doc).get("ssh") or {}
    return SshSettings(port=int(ssh.get("port") or 22), listen_address=str(ssh.get("listen_address") or "0.0.0.0"),
                       password_login=bool(_rancher(doc).get("password")))


def restrict_system_docker(socket: Path) -> None:
    """The system Docker socket is root's alone: root:root 0660, so `system-docker` needs sudo."""
    if socket.exists():
        os.chown(socket, 0, 0)
        os.chmod(socket, 0o660)


def _link(link: Path, replace: bool) -> None:
    if link.is_symlink() and os.readlink(link) == FROZEN:
        return
    if (link.exists() or link.is_symlink()) and not replace:
        return
    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = link.with_name(f".{link.name}.ros")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(FROZEN)
    tmp.replace(link)


def link_applets(root: Path) -> None:
    """/usr/bin/ros and /usr/bin/system-docker -> the bind-mounted frozen binary, as on the OS root; and
    /usr/sbin's power commands (first on every PATH, sudo's too) in place of the image's."""
    if not (Path(root) / FROZEN.lstrip("/")).exists():
        return
    for name in APPLETS:
        _link(Path(root) / "usr" / "bin" / name, replace=False)
    for name in POWER_APPLETS:
        _link(Path(root) / "usr" / "sbin" / name, replace=True)


def prepare(doc: dict, root: Path, save_keys: Callable[[dict[str, str]], None],
            generate: tuple[str, ...] = KEY_TYPES) -> SshSettings:
    """Everything before sshd starts: account, password, host keys, authorized keys, sshd_config, socket perms.

    Host keys missing from config are generated when their type is in `generate`; sshd_config names the
    keys on disk.
    """
    ensure_account(root)
    link_applets(root)
    set_password(root, USER, _rancher(doc).get("password") or None)
    install_host_keys(root, (_rancher(doc).get("ssh") or {}).get("keys") or {}, save_keys, generate)
    install_authorized_keys(root, doc.get("ssh_authorized_keys") or [])
    settings = dataclasses.replace(ssh_settings(doc), host_keys=present_host_keys(root))
    write_sshd_config(root, settings)
    socket = (_rancher(doc).get("system_docker") or {}).get("socket") or "/var/run/system-docker.sock"
    restrict_system_docker(Path(root) / socket.lstrip("/"))
    return settings


def getty_commands(root: Path) -> dict[str, list[str]]:
    """A login prompt on each console tty the container can see (agetty, else busybox getty)."""
    agetty = shutil.which("agetty")
    cmds = {}
    for tty, term in TTYS:
        if not (Path(root) / "dev" / tty).exists():
            continue
        if agetty:
            cmds[f"getty {tty}"] = [agetty, "--noclear", "-L", tty, "115200,38400,9600", term]
        else:
            cmds[f"getty {tty}"] = [shutil.which("busybox") or "busybox", "getty", "-L", "115200", tty, term]
    return cmds


def run_start_script(root: Path) -> None:
    """/opt/rancher/bin/start.sh, if present and executable; its failure is logged, never fatal."""
    path = Path(root) / START_SCRIPT
    if not os.access(path, os.X_OK):
        return
    try:
        done = command.run([str(path)], str(path), START_SCRIPT_TIMEOUT, ok=None, merge_output=True)
    except command.CommandError as e:
        log.warning("%s", e)
        return
    for line in done.stdout.splitlines():
        log.info("%s: %s", START_SCRIPT, line)
    log.log(logging.INFO if done.returncode == 0 else logging.WARNING, "%s: %s", path, command.exit_words(done.returncode))


def generate_late_keys(root: Path, save_keys: Callable[[dict[str, str]], None]) -> threading.Thread | None:
    """The host keys still missing (RSA, on a first boot), made while sshd already serves the quick ones.

    They are saved to rancher.ssh.keys; sshd offers them from its next start (a reload now would refuse
    connections for a moment, just when the first logins arrive). At the lowest priority: on a slow CPU
    the services starting beside it (the user Docker's first start) must not wait for it.
    """
    late = tuple(t for t in KEY_TYPES if t not in present_host_keys(root))
    if not late:
        return None

    def work() -> None:
        try:
            install_host_keys(root, {}, save_keys, late, niceness=19)
        except SshError as e:
            log.error("%s", e)

    thread = threading.Thread(target=work, name="late host keys", daemon=True)
    thread.start()
    return thread


def trial_sshd(config: Path, host: str, port: int, timeout: float, stderr=None) -> bool:
    """Start sshd with `config`, see whether it answers on host:port within `timeout`, then stop it."""
    proc = subprocess.Popen(sshd_argv(str(config)), stderr=stderr)
    try:
        if answers(host, port, timeout):
            return True
        log.error("sshd (%s) did not answer on port %d within %.0fs (exit status %s)", config, port, timeout,
                  proc.poll())
        return False
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


GOOD_CONFIG = "var/lib/rancher/console/sshd_config.good"  # the last sshd_config that answered (kept on disk)


def keep_a_way_in(root: Path, settings: SshSettings, timeout: float = 15) -> bool:
    """New SSH settings must let sshd answer; if they do not, the last ones that did are put back.

    Only a config that differs from the last good one is tried (a trial sshd, then stopped); returns
    False when the new settings were refused.
    """
    config, good = Path(root) / "etc/ssh/sshd_config", Path(root) / GOOD_CONFIG
    text = config.read_text()
    if good.is_file() and good.read_text() == text:
        return True
    if trial_sshd(config, reach_address(settings), settings.port, timeout, stderr=subprocess.DEVNULL):
        good.parent.mkdir(parents=True, exist_ok=True)
        good.write_text(text)
        return True
    previous = good.read_text() if good.is_file() else render_sshd_config(
        dataclasses.replace(settings, port=22, listen_address="0.0.0.0"))
    log.error("sshd does not answer with the new settings (port %d, address %s): the previous ones stay",
              settings.port, settings.listen_address)
    config.write_text(previous)
    return False


def listening_on(config_text: str) -> tuple[str, int]:
    """Where a local client reaches the sshd of this sshd_config (its ListenAddress and Port)."""
    port, address = 22, "0.0.0.0"
    for line in config_text.splitlines():
        key, _, value = line.partition(" ")
        if key == "Port" and value.strip().isdigit():
            port = int(value)
        elif key == "ListenAddress" and value.strip():
            address = value.strip()
    return reach_address(SshSettings(port=port, listen_address=address)), port


def report_ready(root: Path, ready_file: str | None, timeout: float = 120) -> threading.Thread | None:
    """Create the engine's ready file once sshd answers (the services that wait for the console start
    then: on a small machine they would otherwise share the CPU with sshd's first start)."""
    if not ready_file:
        return None
    host, port = listening_on((Path(root) / "etc/ssh/sshd_config").read_text())

    def work() -> None:
        if answers(host, port, timeout, every=0.2):
            Path(ready_file).parent.mkdir(parents=True, exist_ok=True)
            Path(ready_file).touch()
            log.info("sshd answers on port %d", port)

    thread = threading.Thread(target=work, name="ready", daemon=True)
    thread.start()
    return thread


def console_run(doc: dict, root: Path, save_keys: Callable[[dict[str, str]], None],
                ready_file: str | None = None) -> int:
    """The console service's whole job; returns when sshd exits (the restart policy brings it back)."""
    keep_a_way_in(root, prepare(doc, root, save_keys, generate=QUICK_KEY_TYPES))
    run_start_script(root)
    generate_late_keys(root, save_keys)
    respawner = Respawner({"sshd": sshd_argv(), **getty_commands(root)}, primary="sshd")
    report_ready(root, ready_file)
    return respawner.run()


def console_check(doc: dict, root: Path, save_keys: Callable[[dict[str, str]], None], port: int,
                  timeout: float = 60) -> int:
    """A console image's trial run (`ros console run --check-port N`): prepared as for real, its sshd must
    answer on 127.0.0.1:N; 0 when it does. Runs in a throwaway container, before a switch removes anything."""
    settings = prepare(doc, root, save_keys, generate=QUICK_KEY_TYPES)
    trial = dataclasses.replace(settings, port=port, listen_address="127.0.0.1", pidfile="none")
    config = Path(root) / "etc" / "ssh" / "sshd_config.check"
    config.write_text(render_sshd_config(trial))
    if trial_sshd(config, "127.0.0.1", port, timeout):
        log.info("sshd answers on port %d", port)
        return 0
    return 1
