"""New SSH settings for the running sshd without ending a session: rewrite, check, SIGHUP, verify, or put back.

sshd re-executes itself on SIGHUP with the new sshd_config; the sessions it already forked are processes of
their own and stay, the session that made the change among them.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from typing import Callable

from rancheros.system.command import run
from rancheros.console.run import GOOD_CONFIG, prepare
from rancheros.console.sshd import SshError, SshSettings, answers, reach_address
from rancheros.errors import CommandError

log = logging.getLogger(__name__)
ANSWER_TIMEOUT = 15.0  # seconds the reloaded sshd has to answer before the previous settings come back
SSHD = "/usr/sbin/sshd"


def sshd_pid(root: Path, pidfile: str) -> int:
    """The running sshd's pid from its PidFile, checked to be an sshd (a stale file names another process)."""
    try:
        pid = int((Path(root) / pidfile.lstrip("/")).read_text().strip())
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except (OSError, ValueError):
        raise SshError(f"no running sshd (pid file {pidfile})") from None
    if comm != "sshd":
        raise SshError(f"no running sshd (pid file {pidfile} names {comm!r}, pid {pid})")
    return pid


def _hup(root: Path, settings: SshSettings) -> None:
    os.kill(sshd_pid(root, settings.pidfile), signal.SIGHUP)


def reload_ssh(doc: dict, root: Path, save_keys: Callable[[dict[str, str]], None],
               timeout: float = ANSWER_TIMEOUT) -> str:
    """Apply rancher.ssh, ssh_authorized_keys and rancher.password to the running sshd; returns what it did.

    A config sshd refuses (`sshd -t`) or one it does not answer on within `timeout` is replaced by the
    previous one again (SshError says so): the operator always keeps the way in they had.
    """
    config = Path(root) / "etc/ssh/sshd_config"
    before = config.read_text()
    settings = prepare(doc, root, save_keys, generate=())
    after = config.read_text()
    if after == before:
        return "sshd settings unchanged (accounts and keys refreshed)"
    try:
        run([SSHD, "-t", "-f", str(config)], "sshd -t", timeout=30)
    except CommandError as e:
        config.write_text(before)
        raise SshError(f"sshd refuses the new settings, the previous ones stay: {e}") from None
    _hup(root, settings)
    if not answers(reach_address(settings), settings.port, timeout, every=0.2):
        config.write_text(before)
        _hup(root, settings)
        raise SshError(f"sshd did not answer on port {settings.port} within {timeout:.0f}s; "
                       "the previous settings are back")
    good = Path(root) / GOOD_CONFIG
    good.parent.mkdir(parents=True, exist_ok=True)
    good.write_text(after)
    log.info("sshd reloaded: port %d, address %s", settings.port, settings.listen_address)
    return f"sshd reloaded: port {settings.port}, address {settings.listen_address}"
