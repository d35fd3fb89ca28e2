"""The system Docker daemon's lifecycle: start dockerd, wait until it answers, stop it.

PID 1 and the integration tests run exactly this code; every path comes from
SystemDockerConfig so a test can run the daemon under a temporary directory.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

import docker
import psutil

from rancheros.errors import DockerError
from rancheros.mirrors import mirror_flags
from rancheros.system import mountinfo
from rancheros.sysdocker.preload import DEFAULT_DIR as PRELOAD_DIR

log = logging.getLogger(__name__)

# The stop request of the boot manager running this thread (Supervisor.run sets it with stop_on).
_STOP: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar("system_docker_stop", default=None)

PING_TIMEOUT = 10.0  # one readiness probe: a dockerd that accepted but does not answer yet must not hide a stop

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
    preload_dir: str = PRELOAD_DIR
    registry_mirror: str | list[str] = ""
    insecure_registry: list[str] = field(default_factory=list)
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
    mirrors = [cfg.registry_mirror] if isinstance(cfg.registry_mirror, str) else list(cfg.registry_mirror)
    argv += mirror_flags("rancher.system_docker.registry_mirror", [m for m in mirrors if m],
                         [str(h) for h in cfg.insecure_registry])
    return argv + [str(a) for a in cfg.args] + [str(a) for a in cfg.extra_args]


def _fstype_of(path: str) -> str | None:
    """The file system type of the mount holding `path` (its nearest existing ancestor)."""
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        best = mountinfo.holding(p, mountinfo.read())
    except OSError:
        return None
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


class StopRequested(DockerError):
    """The boot manager was asked to stop while it waited for dockerd."""


@contextlib.contextmanager
def stop_on(event: threading.Event):
    """Within this block, every SystemDocker made in this thread gives up waiting for dockerd once `event` is set."""
    token = _STOP.set(event)
    try:
        yield
    finally:
        _STOP.reset(token)


def _stale_processes(exec_root: str) -> tuple[list[psutil.Process], bool]:
    """Processes of a previous dockerd's containerd under `exec_root` (containerd, shims) and whether a dockerd
    of that exec root still lives (then nothing is stale)."""
    marker = os.path.join(os.path.realpath(exec_root), "containerd") + "/"
    found, dockerd_alive = [], False
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
            name = proc.info["name"] or ""
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
        except psutil.Error:
            continue
        if name == "dockerd" and os.path.realpath(exec_root) in cmdline:
            dockerd_alive = True
        elif name.startswith("containerd") and marker in cmdline:
            found.append(proc)
    return found, dockerd_alive


def clear_stale_tasks(cfg: SystemDockerConfig, timeout: float = 10.0) -> int:
    """Kill what a dead dockerd left running under our exec root: its containers' shims and their tasks.

    Shims outlive a killed dockerd; the next one then waits on them and may not start, or refuses to
    start a service whose task still exists ("task ... already exists"). Only called when no dockerd of
    ours runs; returns how many processes were ended.
    """
    stale, dockerd_alive = _stale_processes(cfg.exec_root)
    if dockerd_alive or not stale:
        return 0
    victims: list[psutil.Process] = []
    for shim in stale:
        try:
            victims.extend(shim.children(recursive=True))  # each container's init: the whole task
        except psutil.Error:
            pass
        victims.append(shim)
    log.warning("system-docker: ending %d processes left by the previous dockerd (%s)", len(victims),
                ", ".join(sorted({p.info.get("name") or "?" for p in stale})))
    for proc in victims:
        try:
            proc.kill()
        except psutil.Error:
            pass
    _gone, alive = psutil.wait_procs(victims, timeout=timeout)
    if alive:
        log.warning("system-docker: %d stale processes still there after %.0fs: %s", len(alive), timeout,
                    ", ".join(str(p.pid) for p in alive))
    return len(victims)


class SystemDocker:
    """One system dockerd process: start(), wait_ready(), stop(); pid and running() for supervision."""

    def __init__(self, cfg: SystemDockerConfig, stop: threading.Event | None = None):
        self.cfg = cfg
        self.proc: subprocess.Popen | None = None
        self.storage_driver: str | None = None
        self.stop_event = stop if stop is not None else _STOP.get()

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
        clear_stale_tasks(cfg)
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

    def wait_ready(self, timeout: float = 60.0, progress_every: float = 60.0, stop: threading.Event | None = None,
                   ping_timeout: float | None = None) -> docker.DockerClient:
        """Block until the daemon answers a ping; DockerError with the log tail if it dies or times out.

        dockerd serves its API only after restarting the containers it restores (after a power loss, all
        of them), which can take minutes on a slow machine: say so every `progress_every` seconds.
        A stop request (`stop`, else the one this SystemDocker was made under) ends the wait at once
        with StopRequested; each probe is bounded by `ping_timeout` so a silent socket cannot hide it.
        """
        stop = stop if stop is not None else self.stop_event
        probe_timeout = PING_TIMEOUT if ping_timeout is None else ping_timeout
        began = time.monotonic()
        deadline = began + timeout
        next_note = began + progress_every
        last: Exception | None = None
        while (now := time.monotonic()) < deadline:
            if now >= next_note:  # a ping can block for a minute: count from now, not in fixed steps
                log.info("system-docker: not answering yet after %.0fs (after an unclean stop it restarts "
                         "its containers first); waiting up to %.0fs", now - began, timeout)
                next_note = now + progress_every
            if stop is not None and stop.is_set():
                raise StopRequested(f"stop requested while waiting {now - began:.0f}s for system dockerd")
            if self.proc is not None and self.proc.poll() is not None:
                raise DockerError(f"system dockerd exited with status {self.proc.returncode} while starting; "
                                  f"last lines of {self.cfg.log_file}:\n{_tail(self.cfg.log_file)}")
            if os.path.exists(self.cfg.socket):
                client = None
                try:
                    client = self.client(timeout=max(1, round(probe_timeout)))  # negotiates the API version
                    client.ping()
                    client.close()
                    client = None
                    ready = self.client()  # the one the caller keeps: the full timeout for its long calls
                    log.info("system-docker ready")
                    return ready
                except Exception as e:  # the SDK raises requests/docker errors while the socket comes up
                    last = e
                    if client is not None:
                        client.close()
            if stop is not None:
                stop.wait(0.05)
            else:
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
