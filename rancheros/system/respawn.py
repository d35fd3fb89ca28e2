"""Keep a few child processes alive: respawn helpers, end when the primary one ends or on SIGTERM."""

import logging
import signal
import subprocess
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

log = logging.getLogger(__name__)


@dataclass
class Respawner:
    """`commands` by name; when `primary` exits, everything stops and its status is returned.

    `tick`, if given, runs every `tick_every` seconds in the supervising loop (the syslog service rotates).
    """

    commands: dict[str, list[str]]
    primary: str | None = None
    delay: float = 2.0
    tick: Optional[Callable[[], None]] = None
    tick_every: float = 60.0
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    stopping: bool = False

    def start(self, name: str) -> None:
        self.procs[name] = subprocess.Popen(self.commands[name])
        log.info("%s started (pid %d)", name, self.procs[name].pid)

    def _on_signal(self, signum, frame) -> None:
        """Only a flag: waiting for children here would block (and could deadlock on Popen's lock) the
        main thread the handler interrupted; the loop sees the flag within half a second and stops."""
        self.stopping = True

    def _pause(self, seconds: float) -> None:
        """Sleep in short steps, so a stop request is seen at once."""
        end = time.monotonic() + seconds
        while not self.stopping and (left := end - time.monotonic()) > 0:
            time.sleep(min(0.1, left))

    def run(self) -> int:
        """Start all, respawn helpers, until the primary exits or SIGTERM/SIGINT arrives."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        for name in self.commands:
            if not self.stopping:
                self.start(name)
        next_tick = time.monotonic() + self.tick_every
        while not self.stopping:
            self._pause(min(0.5, self.tick_every))
            if self.stopping:
                break
            if self.tick is not None and time.monotonic() >= next_tick:
                self.tick()
                next_tick = time.monotonic() + self.tick_every
            for name, proc in list(self.procs.items()):
                if self.stopping or proc.poll() is None:
                    continue
                if name == self.primary:
                    log.warning("%s exited with %s", name, proc.returncode)
                    self.stop()
                    return proc.returncode
                log.warning("%s exited with %s; restarting", name, proc.returncode)
                self._pause(self.delay)
                if not self.stopping:
                    self.start(name)
        self.stop()
        return 0

    def stop(self) -> None:
        """Terminate every child, killing those that ignore it for 5 seconds."""
        self.stopping = True
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
