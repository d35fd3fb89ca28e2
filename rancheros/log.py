"""Logging with the time since kernel start, as the boot console shows it.

Every line looks like `[    3.21] rancheros: system-docker ready`, so boot time
is measurable from the serial log alone.
"""

import logging
import logging.handlers
import os
import socket
import sys
import time

SAY_EVERY = 5.0  # a boot step that takes longer says so on the console at this interval, while it runs
SYSLOG_SOCKET = "/run/log.sock"  # made by the syslog service; /dev/log in containers links to it


def uptime() -> float:
    """Seconds since the kernel started (CLOCK_BOOTTIME, as /proc/uptime)."""
    try:
        return time.clock_gettime(time.CLOCK_BOOTTIME)
    except (AttributeError, OSError):
        return time.monotonic()


class BootFormatter(logging.Formatter):
    """Formats records as `[uptime] name: message`, the kernel's own style."""

    def __init__(self, name: str = "rancheros"):
        super().__init__()
        self.tag = name

    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        if record.levelno >= logging.WARNING:
            msg = f"{record.levelname.lower()}: {msg}"
        if record.exc_info and record.levelno >= logging.ERROR:
            msg += "\n" + self.formatException(record.exc_info)
        return f"[{uptime():8.2f}] {self.tag}: {msg}"


class SyslogSocketHandler(logging.Handler):
    """Logs to the syslog service's socket; connects on first use after it appears.

    Services start in parallel, so the socket may come a moment after a service
    began logging; until then records go to the console handler only.
    """

    def __init__(self, tag: str, address: str = SYSLOG_SOCKET):
        super().__init__()
        self.tag, self.address = tag, address
        self._inner: logging.handlers.SysLogHandler | None = None

    def _connect(self) -> logging.handlers.SysLogHandler | None:
        if self._inner is None and os.path.exists(self.address):
            try:
                inner = logging.handlers.SysLogHandler(address=self.address, socktype=socket.SOCK_DGRAM)
            except OSError:
                return None
            inner.ident = f"{self.tag}: "
            inner.setFormatter(logging.Formatter("%(message)s"))
            self._inner = inner
        return self._inner

    def emit(self, record: logging.LogRecord) -> None:
        inner = self._connect()
        if inner is not None:
            inner.emit(record)


def setup(stream=None, level: int = logging.INFO, tag: str = "rancheros", syslog: bool = False) -> None:
    """Send the `rancheros` loggers to `stream` (the console) in boot format, and to syslog if asked and up."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(BootFormatter(tag))
    root = logging.getLogger("rancheros")
    root.handlers[:] = [handler]
    if syslog:
        root.addHandler(SyslogSocketHandler(tag))
    root.setLevel(level)
    root.propagate = False
