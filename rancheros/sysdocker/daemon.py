"""The system Docker daemon's lifecycle: start dockerd, wait until it answers, stop it.

PID 1 and the integration tests run exactly this code; every path comes from
SystemDockerConfig so a test can run the daemon under a temporary directory.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

import docker
import psutil

from rancheros.errors import DockerError
from rancheros.sysdocker.preload import BUNDLED_DIR

log = logging.getLogger(__name__)

# File systems an overlay2 upper directory cannot live on.
_NO_OVERLAY_BACKING = {"overlay", "aufs", "nfs", "nfs4", "cifs", "fuse.sshfs"}


@dataclass
class SystemDockerConfig:
    """`rancher.system_docker` as data: where system dockerd keeps its socket, state and log."""

    socket: str = "/var/run/system-docker.sock"
    data_root: str = "/var/lib/system-docker"
    exec_root: str = "/var/run/system-docker"
    pidfile: str = "/var/run/system-docker.pid"
    storage_driver: str = "overlay2"
    bridge: str = "none"
    iptables: bool = False
    log_level: str = "warn"
    preload_dir: str = BUNDLED_DIR
    args: list[str] = field(default_factory=list)
    extra_args: list[str] = field(default_factory=list)
    log_file: str = "/var/log/system-docker.log"
    dockerd: str = "dockerd"

    @classmethod
    def from_dict(cls, d: dict | None) -> "SystemDockerConfig":
        """Build from `doc["rancher"]["system_docker"]`; keys this class does not know are ignored."""
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in (d or {}).items() if k in known and v is not None}
        if (d or {}).get("debug") is True:
            kwargs["log_level"] = "debug"
        for key in ("args", "extra_args"):
            if key in kwargs and not isinstance(kwargs[key], list):
                raise DockerError(f"rancher.system_docker.{key} must be a list of strings, got {kwargs[key]!r}")
        return cls(**kwargs)

    @property
    def base_url(self) -> str:
        return f"unix://{self.socket}"


def overlay_supported(filesystems: str, backing_fstype: str | None) -> bool:
    """True when the kernel knows overlay and the data root's file system can carry its upper dirs."""
    kernel_has = any(line.split()[-1] == "overlay" for line in filesystems.splitlines() if line.strip())
    return kernel_has and (backing_fstype or "") not in _NO_OVERLAY_BACKING


def choose_storage_driver(requested: str, filesystems: str, backing_fstype: str | None) -> str:
    """overlay2 falls back to vfs where overlay cannot work; any other explicit choice is kept."""
    if requested in ("overlay2", "overlay") and not overlay_supported(filesystems, backing_fstype):
        return "vfs"
    return requested


def dockerd_argv(cfg: SystemDockerConfig, storage_driver: str) -> list[str]:
    """The dockerd command line for system Docker (pure: no I/O)."""
    argv = [
        cfg.dockerd,
        "--host", f"unix://{cfg.socket}",
        "--data-root", cfg.data_root,
        "--exec-root", cfg.exec_root,
        "--pidfile", cfg.pidfile,
        "--storage-driver", storage_driver,
        "--bridge", cfg.bridge,
        f"--iptables={'true' if cfg.iptables else 'false'}",
        "--log-level", cfg.log_level,
    ]
    if not cfg.iptables:
        argv.append("--ip-masq=false")
    if cfg.bridge == "none":
        argv.append("--userland-proxy=false")
    return argv + [str(a) for a in cfg.args] + [str(a) for a in cfg.extra_args]


def _fstype_of(path: str) -> str | None:
    """The file system type of the mount holding `path` (its nearest existing ancestor)."""
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    real = os.path.realpath(p)
    best = None
    for part in psutil.disk_partitions(all=True):
        mp = part.mountpoint
        if real == mp or real.startswith(mp.rstrip("/") + "/"):
            if best is None or len(mp) > len(best.mountpoint):
                best = part
    return best.fstype if best else None


def _tail(path: str, lines: int = 20) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            text = f.read().decode(errors="replace")
    except OSError as e:
        return f"(no log: {e.strerror})"
    return "\n".join(text.splitlines()[-lines:])


class SystemDocker:
    """One system dockerd process: start(), wait_ready(), stop(); pid and running() for supervision."""

    def __init__(self, cfg: SystemDockerConfig):
        self.cfg = cfg
        self.proc: subprocess.Popen | None = None
        self.storage_driver: str | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def running(self) -> bool:
        """True while the dockerd process we started has not exited."""
        return self.proc is not None and self.proc.poll() is None

    def client(self, timeout: int = 60) -> docker.DockerClient:
        """A Docker SDK client on the system socket."""
        return docker.DockerClient(base_url=self.cfg.base_url, timeout=timeout)

    def start(self) -> None:
        """Spawn dockerd (not waiting for it); raises DockerError when it cannot even be executed."""
        if self.running():
            return
        cfg = self.cfg
        binary = shutil.which(cfg.dockerd) if "/" not in cfg.dockerd else cfg.dockerd
        if not binary or not os.access(binary, os.X_OK):
            raise DockerError(f"dockerd binary {cfg.dockerd!r} not found or not executable "
                              "(set rancher.system_docker.dockerd or install docker.io)")
        for d in (cfg.data_root, cfg.exec_root, os.path.dirname(cfg.socket),
                  os.path.dirname(cfg.pidfile), os.path.dirname(cfg.log_file)):
            if d:
                os.makedirs(d, exist_ok=True)
        self._clear_stale_pidfile()
        filesystems = Path("/proc/filesystems").read_text() if os.path.exists("/proc/filesystems") else ""
        self.storage_driver = choose_storage_driver(cfg.storage_driver, filesystems, _fstype_of(cfg.data_root))
        if self.storage_driver != cfg.storage_driver:
            log.warning("system-docker: %s not usable here, using %s", cfg.storage_driver, self.storage_driver)
        argv = dockerd_argv(cfg, self.storage_driver)
        log.info("system-docker: starting %s", " ".join(argv))
        logf = open(cfg.log_file, "ab")
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                         start_new_session=True, close_fds=True)
        except OSError as e:
            raise DockerError(f"cannot execute {binary}: {e.strerror}") from e
        finally:
            logf.close()

    def _clear_stale_pidfile(self) -> None:
        """dockerd refuses to start over a pidfile naming a live process; drop it when that process is gone."""
        try:
            pid = int(Path(self.cfg.pidfile).read_text().strip() or 0)
        except (OSError, ValueError):
            return
        if pid and psutil.pid_exists(pid):
            raise DockerError(f"another dockerd (pid {pid}) owns {self.cfg.pidfile}; stop it first")
        Path(self.cfg.pidfile).unlink(missing_ok=True)

    def wait_ready(self, timeout: float = 60.0, progress_every: float = 60.0) -> docker.DockerClient:
        """Block until the daemon answers a ping; DockerError with the log tail if it dies or times out.

        dockerd serves its API only after restarting the containers it restores (after a power loss, all
        of them), which can take minutes on a slow machine: say so every `progress_every` seconds.
        """
        began = time.monotonic()
        deadline = began + timeout
        next_note = began + progress_every
        last: Exception | None = None
        while (now := time.monotonic()) < deadline:
            if now >= next_note:  # a ping can block for a minute: count from now, not in fixed steps
                log.info("system-docker: not answering yet after %.0fs (restoring containers?); waiting up to %.0fs",
                         now - began, timeout)
                next_note = now + progress_every
            if self.proc is not None and self.proc.poll() is not None:
                raise DockerError(f"system dockerd exited with status {self.proc.returncode} while starting; "
                                  f"last lines of {self.cfg.log_file}:\n{_tail(self.cfg.log_file)}")
            if os.path.exists(self.cfg.socket):
                client = None
                try:
                    client = self.client()  # negotiates the API version: fails like ping while starting
                    client.ping()
                    log.info("system-docker ready")
                    return client
                except Exception as e:  # the SDK raises requests/docker errors while the socket comes up
                    last = e
                    if client is not None:
                        client.close()
            time.sleep(0.05)
        raise DockerError(f"system dockerd did not answer on {self.cfg.socket} within {timeout:.0f}s"
                          f"{f' ({last})' if last else ''}; last lines of {self.cfg.log_file}:\n"
                          f"{_tail(self.cfg.log_file)}")

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, wait up to `timeout`, then SIGKILL; returns dockerd's exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("system-docker: no exit %.0fs after SIGTERM, killing", timeout)
                self.proc.kill()
                self.proc.wait()
        log.info("system-docker stopped (status %s)", self.proc.returncode)
        return self.proc.returncode
