"""PID 1 proper: tiny on purpose. It forks the boot manager, reaps orphans and shuts down.

Everything that spawns commands (dockerd, mkfs, the service engine) runs in the
forked manager, so PID 1's `waitpid(-1)` never steals a status that
`subprocess` waits for. Signals arrive on a wakeup pipe and are handled by the
selector loop on the main thread.
"""

from __future__ import annotations

import logging
import os
import selectors
import signal
import time
from dataclasses import dataclass, field
from typing import Callable, NoReturn

from rancheros.init import libc
from rancheros.init.backoff import Backoff
from rancheros.init.shutdown import SIGNAL_ACTIONS, Action, describe_status, finish, reap_all

log = logging.getLogger(__name__)

WATCHED_SIGNALS = (*SIGNAL_ACTIONS, signal.SIGCHLD)


@dataclass
class Pid1Config:
    """What PID 1 supervises and how long it waits at shutdown."""

    manager: Callable[[], int | None]
    name: str = "boot manager"
    stop_timeout: float = 120.0     # manager's orderly stop (services, dockerd)
    kill_grace: float = 5.0         # SIGTERM -> SIGKILL for the processes left over
    unmount: bool = True            # False in a test's PID namespace: mounts are the host's
    backoff: Backoff = field(default_factory=Backoff)


def _noop(signum, frame) -> None:
    """Python-level handler; the byte on the wakeup pipe is what the loop acts on."""


def _run_child(fn: Callable[[], int | None], fds: tuple[int, int]) -> NoReturn:
    """Body of the forked manager: plain signal dispositions, its own exit status."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        for fd in fds:
            os.close(fd)
        for sig in WATCHED_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        rv = fn()
        code = rv if isinstance(rv, int) else 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:
        log.exception("boot manager failed")
    finally:
        for h in logging.getLogger("rancheros").handlers:
            h.flush()
        os._exit(code)


class Pid1:
    """The init loop: start the manager, reap, restart with backoff, shut down on signals."""

    def __init__(self, cfg: Pid1Config):
        self.cfg = cfg
        self.manager_pid: int | None = None
        self.manager_started = 0.0
        self.restart_at: float | None = None
        self.action: Action | None = None
        self.stop_deadline: float | None = None
        self._rfd, self._wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._rfd, selectors.EVENT_READ)

    def run(self) -> NoReturn:
        """Never returns: the only way out is reboot(2)."""
        signal.set_wakeup_fd(self._wfd, warn_on_full_buffer=False)
        for sig in WATCHED_SIGNALS:
            signal.signal(sig, _noop)
        try:
            libc.reboot(libc.RB_DISABLE_CAD)  # ctrl-alt-del becomes SIGINT to us
        except OSError:
            pass  # refused inside a PID namespace; nothing to do there
        self._start_manager()
        while True:
            try:
                self._step()
            except Exception:
                log.exception("init loop error (continuing)")
                time.sleep(1)

    def _start_manager(self) -> None:
        self.restart_at = None
        self.manager_started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            _run_child(self.cfg.manager, (self._rfd, self._wfd))
        self.manager_pid = pid
        log.debug("%s started (pid %d)", self.cfg.name, pid)

    def _timeout(self) -> float | None:
        now = time.monotonic()
        times = [t for t in (self.restart_at, self.stop_deadline) if t is not None]
        return max(0.0, min(times) - now) if times else None

    def _step(self) -> None:
        for _key, _ in self._sel.select(self._timeout()):
            try:
                data = os.read(self._rfd, 512)
            except BlockingIOError:
                data = b""
            for signum in data:
                if signum in SIGNAL_ACTIONS:
                    self.request(SIGNAL_ACTIONS[signum], signal.Signals(signum).name)
        self._reap()
        now = time.monotonic()
        if self.stop_deadline is not None and now >= self.stop_deadline and self.manager_pid:
            log.warning("%s did not stop within %.0fs; killing it", self.cfg.name, self.cfg.stop_timeout)
            os.kill(self.manager_pid, signal.SIGKILL)
            self.stop_deadline = None
        if self.restart_at is not None and now >= self.restart_at and self.action is None:
            self._start_manager()

    def request(self, action: Action, why: str) -> None:
        """Begin an orderly shutdown; a second request while one runs is ignored."""
        if self.action is not None:
            log.info("already %s; ignoring %s", self.action.words, why)
            return
        self.action = action
        self.restart_at = None
        log.info("shutdown requested (%s): %s", why, action.name.lower())
        if self.manager_pid:
            os.kill(self.manager_pid, signal.SIGTERM)
            self.stop_deadline = time.monotonic() + self.cfg.stop_timeout
        else:
            self._finish()

    def _reap(self) -> None:
        for pid, status in reap_all():
            if pid != self.manager_pid:
                continue
            self.manager_pid = None
            if self.action is not None:
                log.info("%s stopped (%s)", self.cfg.name, describe_status(status))
                self._finish()
                return
            delay = self.cfg.backoff.next_delay(time.monotonic() - self.manager_started)
            log.warning("%s exited (%s); restarting in %.0fs", self.cfg.name, describe_status(status), delay)
            self.restart_at = time.monotonic() + delay

    def _finish(self) -> None:
        assert self.action is not None
        self.stop_deadline = None
        finish(self.action, unmount=self.cfg.unmount, grace=self.cfg.kill_grace)
        log.error("the kernel refused to %s; staying up", self.action.name.lower())
        self.action = None
        self.restart_at = time.monotonic()
