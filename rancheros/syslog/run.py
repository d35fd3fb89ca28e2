"""`ros syslog run`: syslogd writes /var/log/messages, klogd feeds it the kernel's lines, logrotate rotates.

busybox syslogd reopens its file at most once a second while it writes, so logrotate's plain rename
is all a rotation takes: no signal, no copytruncate, nothing lost.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rancheros.system.command import run_logged
from rancheros.system.respawn import Respawner
from rancheros.log import SYSLOG_SOCKET


@dataclass(frozen=True)
class SyslogSettings:
    """Where the log goes and when it rotates (logrotate's `size`, e.g. 10M or 64k)."""

    log_file: Path = Path("/var/log/messages")
    socket: Path = Path(SYSLOG_SOCKET)
    max_size: str = "10M"
    keep: int = 5
    every: float = 60.0
    state_dir: Path = Path("/var/lib/rancher/syslog")
    klogd: bool = True


def logrotate_conf(s: SyslogSettings) -> str:
    return (f"{s.log_file} {{\n    size {s.max_size}\n    rotate {s.keep}\n"
            "    missingok\n    notifempty\n    nocompress\n}\n")


def commands(s: SyslogSettings) -> dict[str, list[str]]:
    """syslogd binds the socket itself (-a is not in Debian's build: /dev/log links to it instead)."""
    cmds = {"syslogd": ["syslogd", "-n", "-O", str(s.log_file)]}
    if s.klogd:
        cmds["klogd"] = ["klogd", "-n"]
    return cmds


def link_dev_log(socket: Path, dev_log: Path = Path("/dev/log")) -> None:
    """/dev/log -> the shared socket: busybox syslogd binds the link's target, in the shared /run."""
    if dev_log.is_symlink() or dev_log.exists():
        dev_log.unlink()
    dev_log.symlink_to(socket)


class Rotator:
    """Runs `logrotate` with our config; a failure is one log line, never the end of the service."""

    def __init__(self, s: SyslogSettings):
        s.state_dir.mkdir(parents=True, exist_ok=True)
        self.conf = s.state_dir / "logrotate.conf"
        self.conf.write_text(logrotate_conf(s))
        os.chmod(self.conf, 0o644)  # logrotate refuses a config others may write
        self.argv = ["logrotate", "-s", str(s.state_dir / "logrotate.status"), str(self.conf)]

    def __call__(self) -> None:
        run_logged(self.argv, "logrotate", timeout=60)


def syslog_run(s: SyslogSettings, dev_log: Path | None = Path("/dev/log")) -> int:
    """Supervise syslogd (primary) and klogd; rotate every `s.every` seconds until SIGTERM."""
    if dev_log is not None:
        link_dev_log(s.socket, dev_log)
    s.log_file.parent.mkdir(parents=True, exist_ok=True)
    return Respawner(commands(s), primary="syslogd", tick=Rotator(s), tick_every=s.every).run()
