"""The boot console stream that every milestone line goes to."""

from __future__ import annotations

import sys
from typing import TextIO


def open_console(path: str | None = None) -> TextIO:
    """The console, line-buffered; stderr when it cannot be opened."""
    try:
        return open(path or "/dev/console", "w", buffering=1, errors="replace")
    except OSError:
        return sys.stderr
