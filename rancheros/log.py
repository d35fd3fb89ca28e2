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


def syslog_handler(tag: str, address: str = SYSLOG_SOCKET) -> logging.Handler | None:
    """A handler to the syslog service's socket, or None while there is none (early boot, dev machines)."""
    if not os.path.exists(address):
        return None
    try:
        handler = logging.handlers.SysLogHandler(address=address, socktype=socket.SOCK_DGRAM)
    except OSError:
        return None
    handler.ident = f"{tag}: "
    handler.setFormatter(logging.Formatter("%(message)s"))
    return handler


def setup(stream=None, level: int = logging.INFO, tag: str = "rancheros", syslog: bool = False) -> None:
    """Send the `rancheros` loggers to `stream` (the console) in boot format, and to syslog if asked and up."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(BootFormatter(tag))
    root = logging.getLogger("rancheros")
    root.handlers[:] = [handler]
    extra = syslog_handler(tag) if syslog else None
    if extra:
        root.addHandler(extra)
    root.setLevel(level)
    root.propagate = False
