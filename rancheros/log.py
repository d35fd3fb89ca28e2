"""Logging with the time since kernel start, as the boot console shows it.

Every line looks like `[    3.21] rancheros: system-docker ready`, so boot time
is measurable from the serial log alone.
"""

import json
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


TRACE_FILE = "/run/rancheros/boot-trace.jsonl"  # PID 1's and the boot manager's console lines, as JSON
TRACE_LIMIT = 5000       # records; then one saying the trace was cut
TRACE_PENDING = 500      # records kept in memory while the file cannot be written yet


def stamped(record: logging.LogRecord) -> float:
    """The record's uptime, taken once: the console line and the trace record show the same time."""
    if not hasattr(record, "uptime"):
        record.uptime = round(uptime(), 2)
    return record.uptime


def console_text(record: logging.LogRecord) -> str:
    """The message as the console shows it after `tag: ` (warnings and errors name their level)."""
    msg = record.getMessage()
    return f"{record.levelname.lower()}: {msg}" if record.levelno >= logging.WARNING else msg


class BootFormatter(logging.Formatter):
    """Formats records as `[uptime] name: message`, the kernel's own style."""

    def __init__(self, name: str = "rancheros"):
        super().__init__()
        self.tag = name

    def format(self, record: logging.LogRecord) -> str:
        msg = console_text(record)
        if record.exc_info and record.levelno >= logging.ERROR:
            msg += "\n" + self.formatException(record.exc_info)
        return f"[{stamped(record):8.2f}] {self.tag}: {msg}"


def boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


class TraceHandler(logging.Handler):
    """Appends each console line to the boot trace (`ros boot trace`); never raises, never blocks.

    Lines come before the file can be written (no /run yet) are kept, bounded, and written first once it can.
    """

    def __init__(self, tag: str = "rancheros", path: str = TRACE_FILE, limit: int = TRACE_LIMIT):
        super().__init__()
        self.tag, self.path, self.limit = tag, path, limit
        self.pending: list[str] = []
        self.written = 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if self.written + len(self.pending) >= self.limit:
                return
            self.pending.append(json.dumps({"t": stamped(record), "level": record.levelname.lower(),
                                            "source": self.tag, "message": console_text(record)}))
            if self.written + len(self.pending) == self.limit:
                self.pending[-1] = json.dumps({"t": stamped(record), "level": "warning", "source": self.tag,
                                               "message": f"boot trace cut at {self.limit} lines"})
            del self.pending[:-TRACE_PENDING]
            self._flush()
        except Exception:
            pass

    def _flush(self) -> None:
        directory = os.path.dirname(self.path)
        if not os.path.ismount(os.path.dirname(directory)) and not os.path.isdir(directory):
            return   # before /run is mounted: a file now would be hidden under the mount
        try:
            os.makedirs(directory, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NONBLOCK, 0o644)
        except OSError:
            return
        try:
            head = json.dumps({"boot_id": boot_id()}) + "\n" if os.fstat(fd).st_size == 0 else ""
            os.write(fd, (head + "".join(line + "\n" for line in self.pending)).encode())
            self.written += len(self.pending)
            self.pending.clear()
        except OSError:
            pass
        finally:
            os.close(fd)

    def handleError(self, record: logging.LogRecord) -> None:
        """Nothing: the trace is never a reason for PID 1 to print a traceback."""


class SyslogSocketHandler(logging.Handler):
    """Logs to the syslog service's socket; holds what comes before the socket appears.

    Services start in parallel, and the console (first in line) says all it has to say before the
    syslog service is up: until the socket appears records wait here (the newest PENDING_MAX), and
    a thread sends them once it does, for at most SOCKET_WAIT seconds.
    """

    PENDING_MAX = 200
    SOCKET_WAIT = 300.0

    def __init__(self, tag: str, address: str = SYSLOG_SOCKET, wait: float = SOCKET_WAIT):
        super().__init__()
        import collections
        self.tag, self.address, self.wait = tag, address, wait
        self._inner: logging.handlers.SysLogHandler | None = None
        self._pending: "collections.deque[logging.LogRecord]" = collections.deque(maxlen=self.PENDING_MAX)
        self._waiter: "threading.Thread | None" = None

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

    def _send_pending(self) -> bool:
        """Send what waited, in order; False while there is no socket. Called with the handler's lock."""
        inner = self._connect()
        if inner is None:
            return False
        while self._pending:
            inner.emit(self._pending.popleft())
        return True

    def _wait_for_socket(self) -> None:
        deadline = time.monotonic() + self.wait
        while time.monotonic() < deadline:
            time.sleep(0.5)
            with self.lock:
                if self._send_pending():
                    break
        with self.lock:
            self._waiter = None

    def emit(self, record: logging.LogRecord) -> None:
        self._pending.append(record)
        if self._send_pending() or self._waiter is not None:
            return
        import threading
        self._waiter = threading.Thread(target=self._wait_for_socket, name="syslog-wait", daemon=True)
        self._waiter.start()


def setup(stream=None, level: int = logging.INFO, tag: str = "rancheros", syslog: bool = False,
          trace: str | None = None) -> None:
    """Send the `rancheros` loggers to `stream` (the console) in boot format, to syslog if asked and up,
    and to the boot trace file `trace` (PID 1 only)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(BootFormatter(tag))
    root = logging.getLogger("rancheros")
    root.handlers[:] = [handler]
    if trace:
        root.addHandler(TraceHandler(tag, trace))
    if syslog:
        root.addHandler(SyslogSocketHandler(tag))
    root.setLevel(level)
    root.propagate = False
