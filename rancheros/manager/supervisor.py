"""System Docker under supervision: start it, load images, bring services up, restart it if it dies.

Runs in the boot manager (a child of PID 1), so `subprocess` and the Docker
SDK see their own children's real exit statuses.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import psutil

from rancheros import log as boot_log
from rancheros.errors import RosError
from rancheros.init.backoff import Backoff
from rancheros.init.shutdown import describe_status

log = logging.getLogger(__name__)

# How long a live dockerd may take to answer. After an unclean stop it first restarts every service
# container it restores, all at once (minutes on a busy TCG guest). Killing it then does not help:
# the containers' shims outlive it, and a CI boot that killed it at 120 s ended with the next dockerd
# refusing to start the console ("task ... already exists").
READY_TIMEOUT = 600.0


def stop_stale_dockerd(pidfile: str, timeout: float = 20.0) -> None:
    """A dockerd left by a previous boot manager (it crashed) is stopped so a fresh one can own the pidfile."""
    try:
        pid = int(open(pidfile).read().strip() or 0)
        proc = psutil.Process(pid)
    except (OSError, ValueError, psutil.Error):
        return
    if "dockerd" not in proc.name():
        return
    log.warning("system-docker: stopping the dockerd (pid %d) of the previous boot manager", pid)
    proc.terminate()
    try:
        proc.wait(timeout)
    except psutil.TimeoutExpired:
        proc.kill()


def seed_system_images(data_root: str, store_dir: str | None = None) -> None:
    """Link the OS image's system images into dockerd's store before it starts (nothing to load)."""
    from rancheros.sysdocker import imagestore

    store_dir = store_dir or imagestore.STORE_DIR
    if not os.path.isdir(store_dir):
        log.debug("no system image store at %s", store_dir)
        return
    t0 = time.monotonic()
    report = imagestore.seed(store_dir, data_root)
    log.info("system images: %d layers, %d images linked from the OS image in %.2fs%s", report.layers,
             report.images, time.monotonic() - t0, f" ({report.removed} old layers unlinked)" if report.removed else "")


def _exit_words(returncode: int | None) -> str:
    if returncode is None:
        return "still running"
    status = (-returncode) if returncode < 0 else (returncode << 8)
    return describe_status(status)


@dataclass
class Supervisor:
    """One boot's system Docker and services; `run()` until `stop` is set, then stops them in order."""

    doc: dict
    reload: Callable[[], dict]
    stop: threading.Event = field(default_factory=threading.Event)
    backoff: Backoff = field(default_factory=lambda: Backoff(initial=1, maximum=30, stable_after=60))
    local_stage: Callable[[dict], None] | None = None
    daemon: object = None
    engine: object = None

    def _settings(self) -> dict:
        return (self.doc.get("rancher") or {})

    def bring_up(self, first: bool) -> None:
        """dockerd, images, (first time: the local cloud-init stage), services."""
        from rancheros.sysdocker.daemon import SystemDocker, SystemDockerConfig
        from rancheros.sysdocker.engine import Engine
        from rancheros.sysdocker.preload import preload_images

        if first:
            self._slot_at_boot()
        cfg = SystemDockerConfig.from_dict(self._settings().get("system_docker"))
        stop_stale_dockerd(cfg.pidfile)
        seed_system_images(cfg.data_root)
        self.daemon = SystemDocker(cfg)
        self.daemon.start()
        client = self.daemon.wait_ready(timeout=READY_TIMEOUT, progress_every=boot_log.SAY_EVERY)  # logs "system-docker ready"
        failed = [r for r in preload_images(client, cfg.preload_dir) if getattr(r, "error", None)]
        log.info("images loaded%s", f" ({len(failed)} archives failed)" if failed else "")
        if first and self.local_stage is not None:
            self.local_stage(self.doc)
            self.doc = self.reload()
        self.engine = Engine(client, self.doc, reload=self.reload)
        from rancheros.sysdocker import watch
        watch.start(client.api, self.stop)   # essential services' restarts on the console; ends with this dockerd
        report = self.engine.up()
        self.doc = self.engine.doc
        from rancheros.console.switch import fall_back_at_boot
        fall_back_at_boot(self.engine, report)  # a console that cannot start: the default one this boot
        failed_services = sorted(report.failed)
        log.info("services up%s", f" (failed: {', '.join(failed_services)})" if failed_services else "")
        if first:
            self._slot_services_up()
        if os.getppid() == 1:
            log.info("init (pid 1) resident memory: %.1f MiB", psutil.Process(1).memory_info().rss / 2**20)

    def _slot_at_boot(self) -> None:
        """An installed system: report a rolled-back upgrade; on a trial boot, watch for "services up"."""
        try:
            from rancheros.install import bootslot
            bootslot.at_boot()
            self._trial_up = threading.Event()
            bootslot.watch_trial(self._trial_up)
        except Exception as e:  # the boot goes on whatever the slots' state
            log.error("boot slots: %s", e)

    def _slot_services_up(self) -> None:
        try:
            from rancheros.install import bootslot
            if getattr(self, "_trial_up", None) is not None:
                self._trial_up.set()
            bootslot.services_up()
        except Exception as e:
            log.error("boot slots: %s", e)

    def run(self) -> int:
        """Keep system Docker alive until asked to stop; then stop services and dockerd in order.

        A stop request also ends a wait for dockerd (up to READY_TIMEOUT) at once: every SystemDocker
        made while this runs honours `stop` (rancheros.sysdocker.daemon.stop_on).
        """
        try:
            from rancheros.sysdocker.daemon import stop_on
            scope = stop_on(self.stop)
        except Exception:  # without the module bring_up fails and says so; the loop still runs
            scope = contextlib.nullcontext()
        with scope:
            self._run_loop()
        self.shutdown()
        return 0

    def _run_loop(self) -> None:
        first = True
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                self.bring_up(first)
                first = False
                while not self.stop.wait(1.0) and self.daemon.running():
                    pass
                if self.stop.is_set():
                    break
                why = f"system-docker died ({_exit_words(self.daemon.proc.returncode)})"
            except (RosError, OSError) as e:
                why = f"system-docker failed: {e}"
                self._stop_daemon()
            except Exception as e:  # the Docker SDK's own errors: same treatment
                why = f"system-docker failed: {type(e).__name__}: {e}"
                self._stop_daemon()
            if self.stop.is_set():
                log.info("stop requested while starting system-docker (%s)", why)
                break
            delay = self.backoff.next_delay(time.monotonic() - started)
            log.error("%s; restarting in %.0fs", why, delay)
            self.stop.wait(delay)

    def _stop_daemon(self) -> None:
        if self.daemon is not None and self.daemon.running():
            self.daemon.stop(timeout=20)

    def shutdown(self) -> None:
        """Services in reverse order with a timeout each, then dockerd."""
        log.info("stopping services")
        timeout = int(self._settings().get("shutdown_timeout") or 10)
        if self.engine is not None and self.daemon is not None and self.daemon.running():
            try:
                errors = self.engine.stop_all(timeout_each=timeout)
                for name, err in errors.items():
                    log.error("service %s did not stop cleanly: %s", name, err)
            except Exception as e:
                log.error("stopping services failed: %s", e)
        self._stop_daemon()


def install_stop_handler(stop: threading.Event) -> None:
    """SIGTERM from PID 1 means: stop in order (the wait loop wakes at once).

    The handler only writes a byte to a pipe; a helper thread reads it and sets `stop`. Setting an Event
    from the handler deadlocks: the handler runs on the main thread, which may be inside `stop.wait()`
    holding the Event's (non-reentrant) lock at that very moment.
    """
    rfd, wfd = os.pipe2(os.O_CLOEXEC)
    os.set_blocking(wfd, False)

    def relay() -> None:
        while True:
            try:
                if os.read(rfd, 64):
                    break
            except InterruptedError:
                continue
            except OSError:
                return
        stop.set()

    threading.Thread(target=relay, name="stop-request", daemon=True).start()

    def on_term(signum, frame) -> None:
        try:
            os.write(wfd, b"T")
        except OSError:
            pass  # a byte is already waiting: the stop is on its way

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("PATH", "/sbin:/usr/sbin:/bin:/usr/bin")
