"""The boot console stream that every milestone line goes to.

PID 1 logs to it, so it must never block: a serial line held by flow control
(or a tty stopped with ^S) would otherwise stop PID 1 in write(2) and with it
the reaping and the shutdown. Writes are non-blocking; what the line cannot
take is kept up to a bound, then dropped and counted, and the count is shown
once the line moves again.
"""

from __future__ import annotations

import io
import os
import sys
from typing import TextIO

PENDING_MAX = 64 << 10  # bytes held for a slow line before new lines are dropped


class ConsoleStream(io.TextIOBase):
    """A write-only text stream on a non-blocking fd: write() never waits and never raises."""

    def __init__(self, fd: int, encoding: str = "utf-8"):
        super().__init__()
        self.fd = fd
        self._encoding = encoding
        self.pending = b""
        self.dropped = 0  # lines that did not fit since the last note

    @property
    def encoding(self) -> str:
        return self._encoding

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.fd

    def isatty(self) -> bool:
        try:
            return os.isatty(self.fd)
        except OSError:
            return False

    def _push(self) -> None:
        """Write as much of `pending` as the line takes now."""
        while self.pending:
            try:
                n = os.write(self.fd, self.pending)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # EIO on a hung-up line: nothing can be shown, drop it all
                self.dropped += self.pending.count(b"\n")
                self.pending = b""
                return
            if n <= 0:
                return
            self.pending = self.pending[n:]

    def write(self, s: str) -> int:
        data = s.encode(self._encoding, "replace")
        self._push()
        if self.dropped:  # the note goes where the lost lines were: after what is pending, before this line
            data = f"[console: {self.dropped} lines dropped: the line was blocked]\n".encode() + data
        if len(self.pending) + len(data) > PENDING_MAX:
            self.dropped += max(1, s.count("\n"))
        else:
            self.pending += data
            self.dropped = 0
            self._push()
        return len(s)

    def flush(self) -> None:
        self._push()

    def close(self) -> None:
        if not self.closed:
            try:
                os.close(self.fd)
            except OSError:
                pass
        super().close()


def open_console(path: str | None = None) -> TextIO:
    """The console as a stream that never blocks its writer; stderr when it cannot be opened."""
    path = path or "/dev/console"
    flags = os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    if not path.startswith("/dev/"):  # a log file (tests); never a regular file where a device node belongs
        flags |= os.O_CREAT | os.O_TRUNC
    try:
        fd = os.open(path, flags, 0o644)
    except OSError:
        return sys.stderr
    return ConsoleStream(fd)  # type: ignore[return-value]
