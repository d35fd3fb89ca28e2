"""The user Docker's containerd, started before dockerd and waited for.

dockerd gives a containerd it starts itself 15 s to answer, then exits; on a loaded small machine
(the user Docker runs at a quarter of the CPU while the other services start) containerd can need
longer, and the service restarted. So `ros docker run` starts containerd, waits for its socket
(bounded, saying so past 5 s) and hands dockerd the socket with `--containerd`.
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from rancheros.errors import CommandError
from rancheros.system import libc

log = logging.getLogger(__name__)

CONTAINERD = "containerd"
START_TIMEOUT = 300.0
SAY_AFTER = 5.0


@dataclass(frozen=True)
class Containerd:
    """Where the user Docker's containerd keeps its socket, state and data (dockerd's own layout)."""

    exec_root: Path = Path("/var/run/docker")
    data_root: Path = Path("/var/lib/docker")

    @property
    def socket(self) -> Path:
        return self.exec_root / "containerd" / "containerd.sock"

    @property
    def config_file(self) -> Path:
        return self.exec_root / "containerd" / "containerd.toml"

    def config(self) -> str:
        """containerd's config: dockerd's layout, CRI off (Docker does not use it)."""
        return (f'version = 2\nroot = "{self.data_root}/containerd/daemon"\n'
                f'state = "{self.exec_root}/containerd/daemon"\noom_score = -500\n'
                'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
                f'[grpc]\n  address = "{self.socket}"\n'
                f'[debug]\n  address = "{self.exec_root}/containerd/containerd-debug.sock"\n')

    def argv(self) -> list[str]:
        return [CONTAINERD, "--config", str(self.config_file)]

    @classmethod
    def of(cls, dockerd_argv: list[str]) -> "Containerd":
        """The layout a dockerd command line implies (its --exec-root and --data-root, else the defaults)."""
        found = {"--exec-root": str(cls.exec_root), "--data-root": str(cls.data_root)}
        for i, arg in enumerate(dockerd_argv):
            name, eq, value = arg.partition("=")
            if name in found:
                found[name] = value if eq else (dockerd_argv[i + 1] if i + 1 < len(dockerd_argv) else found[name])
        return cls(Path(found["--exec-root"]), Path(found["--data-root"]))


def answers(path: Path) -> bool:
    """True when a unix socket at `path` accepts a connection."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        try:
            s.connect(str(path))
            return True
        except OSError:
            return False


def start(c: Containerd, timeout: float = START_TIMEOUT, say: Callable[[str], None] = log.info,
          popen: Callable[..., subprocess.Popen] = subprocess.Popen) -> subprocess.Popen:
    """Start containerd and return once its socket answers; CommandError if it exits or stays silent."""
    c.config_file.parent.mkdir(parents=True, exist_ok=True)
    c.config_file.write_text(c.config())
    c.socket.unlink(missing_ok=True)
    # it ends with dockerd, which this process becomes (exec keeps the parent): no containerd outlives it
    proc = popen(c.argv(), stdin=subprocess.DEVNULL,
                 preexec_fn=lambda: libc.set_parent_death_signal(signal.SIGTERM))
    t0 = time.monotonic()
    said = False
    while not answers(c.socket):
        waited = time.monotonic() - t0
        if proc.poll() is not None:
            raise CommandError(f"containerd exited with status {proc.returncode} before it answered on {c.socket}")
        if waited > timeout:
            proc.kill()
            proc.wait()
            raise CommandError(f"containerd did not answer on {c.socket} within {timeout:.0f}s")
        if waited > SAY_AFTER and not said:
            say(f"waiting for containerd to answer on {c.socket} (up to {timeout:.0f}s)")
            said = True
        time.sleep(0.2)
    log.info("containerd answers on %s after %.1fs", c.socket, time.monotonic() - t0)
    return proc
