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

    def run(self) -> int:
        """Start all, respawn helpers, until the primary exits or SIGTERM/SIGINT arrives."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop())
        for name in self.commands:
            self.start(name)
        next_tick = time.monotonic() + self.tick_every
        while not self.stopping:
            time.sleep(min(0.5, self.tick_every))
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
                time.sleep(self.delay)
                self.start(name)
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
