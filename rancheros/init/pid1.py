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

from rancheros.system import libc
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
    unmount_under: str = "/"        # only mounts at or below this (a test's own); "/" is all of them
    backoff: Backoff = field(default_factory=Backoff)


def _noop(signum, frame) -> None:
    """Python-level handler; the byte on the wakeup pipe is what the loop acts on."""


def _run_child(fn: Callable[[], int | None], fds: tuple[int, int]) -> NoReturn:
    """Body of the forked manager: plain signal dispositions, its own exit status."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        for fd in fds:
            if fd >= 0:
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


def _loop_error(e: BaseException) -> None:
    """One console line (with the traceback) and a pause; nothing raised here escapes either."""
    try:
        log.error("init loop error (continuing): %s: %s", type(e).__name__, e, exc_info=not isinstance(e, OSError))
    except BaseException:
        pass
    try:
        time.sleep(1)
    except BaseException:
        pass


class Pid1:
    """The init loop: start the manager, reap, restart with backoff, shut down on signals.

    Nothing here may end the process: construction makes no system call, and `run()` does its setup and
    the first fork inside the loop's guard, so any failure there is one console line and a retry.
    """

    def __init__(self, cfg: Pid1Config):
        self.cfg = cfg
        self.manager_pid: int | None = None
        self.manager_started = 0.0
        self.restart_at: float | None = time.monotonic()  # the first start is the loop's job, as a restart is
        self.action: Action | None = None
        self.stop_deadline: float | None = None
        self._rfd = self._wfd = -1
        self._sel: selectors.BaseSelector | None = None

    def run(self) -> NoReturn:
        """Never returns, never raises: the only way out is reboot(2)."""
        while True:
            try:
                if self._sel is None:
                    self._setup()
                self._step()
            except BaseException as e:  # noqa: B902 -- PID 1 must outlive anything, KeyboardInterrupt included
                _loop_error(e)

    def _setup(self) -> None:
        """Wakeup pipe, signal handlers, ctrl-alt-del as SIGINT; retried by the loop until it succeeds."""
        if self._rfd < 0:
            self._rfd, self._wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        sel = selectors.DefaultSelector()
        try:
            sel.register(self._rfd, selectors.EVENT_READ)
            signal.set_wakeup_fd(self._wfd, warn_on_full_buffer=False)
            for sig in WATCHED_SIGNALS:
                signal.signal(sig, _noop)
        except BaseException:
            sel.close()
            raise
        try:
            libc.reboot(libc.RB_DISABLE_CAD)  # ctrl-alt-del becomes SIGINT to us
        except OSError:
            pass  # refused inside a PID namespace; nothing to do there
        self._sel = sel

    def _start_manager(self) -> None:
        """Fork the manager; a failed fork keeps the restart timer (pushed back by the backoff), never clears it."""
        try:
            pid = os.fork()
        except OSError as e:
            delay = self.cfg.backoff.next_delay(0.0)
            self.restart_at = time.monotonic() + delay
            log.error("cannot start %s: fork: %s; retrying in %.0fs", self.cfg.name, e.strerror or e, delay)
            return
        if pid == 0:
            _run_child(self.cfg.manager, (self._rfd, self._wfd))
        self.manager_pid = pid
        self.manager_started = time.monotonic()
        self.restart_at = None
        log.debug("%s started (pid %d)", self.cfg.name, pid)

    def _timeout(self) -> float | None:
        now = time.monotonic()
        times = [t for t in (self.restart_at, self.stop_deadline) if t is not None]
        return max(0.0, min(times) - now) if times else None

    def _wait_events(self) -> bytes:
        """Signal numbers that arrived, waiting until one does or a timer is due (polling without a selector)."""
        timeout = self._timeout()
        if self._sel is None:
            time.sleep(1.0 if timeout is None else min(timeout, 1.0))
            return b""
        data = b""
        for _key, _ in self._sel.select(timeout):
            try:
                data += os.read(self._rfd, 512)
            except BlockingIOError:
                pass
        return data

    def _step(self) -> None:
        for signum in self._wait_events():
            if signum in SIGNAL_ACTIONS:
                self.request(SIGNAL_ACTIONS[signum], signal.Signals(signum).name)
        self._reap()
        now = time.monotonic()
        if self.stop_deadline is not None and now >= self.stop_deadline and self.manager_pid:
            log.warning("%s did not stop within %.0fs; killing it", self.cfg.name, self.cfg.stop_timeout)
            self.stop_deadline = None
            try:
                os.kill(self.manager_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # gone already: the next reap sees it
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
            self.stop_deadline = time.monotonic() + self.cfg.stop_timeout
            try:
                os.kill(self.manager_pid, signal.SIGTERM)
            except ProcessLookupError:
                pass  # it exited a moment ago: the reap finishes the shutdown
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
        """The last steps; if reboot(2) is refused (or anything fails), PID 1 stays up and restarts the manager.

        The restart follows the backoff: a manager that asks for a reboot at once (the recovery shell with
        panic=-1) would otherwise loop with a kernel that refuses it.
        """
        action = self.action or Action.REBOOT
        self.stop_deadline = None
        try:
            why = finish(action, unmount=self.cfg.unmount, grace=self.cfg.kill_grace, under=self.cfg.unmount_under)
        finally:
            self.action = None
            delay = self.cfg.backoff.next_delay(time.monotonic() - self.manager_started)
            self.restart_at = time.monotonic() + delay
        log.error("%s refused by the kernel (reboot(2): %s); staying up, %s restarting in %.0fs",
                  action.name.lower(), why, self.cfg.name, delay)
