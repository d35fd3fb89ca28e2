"""Which console runs and why: the note a fallback or a failed switch leaves for `ros console list`.

The note lives in /run (this boot only): a console that could not start is retried on the next boot.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from rancheros.config.store import write_atomic

NOTE = Path(os.environ.get("ROS_CONSOLE_NOTE", "/run/rancheros/console.json"))
LABEL = "io.rancher.os.console"  # on the console container: the name of the console it runs


@dataclass(frozen=True)
class ConsoleNote:
    """Console `wanted` could not run this boot (or a switch to it failed): `why`; `running` answers instead."""

    wanted: str
    running: str
    why: str


def write_note(note: ConsoleNote, path: Path = NOTE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(asdict(note)).encode(), 0o644)


def read_note(path: Path = NOTE) -> ConsoleNote | None:
    try:
        return ConsoleNote(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def clear_note(path: Path = NOTE) -> None:
    path.unlink(missing_ok=True)


def list_lines(names: list[str], current: str | None, configured: str, note: ConsoleNote | None) -> list[str]:
    """`ros console list`: `current` runs now, `enabled` runs from the next boot, the rest `disabled`."""
    lines = []
    for name in names:
        state = "current" if name == current else "enabled" if name == configured else "disabled"
        why = f"  ({note.why})" if note is not None and note.wanted == name and name != current else ""
        lines.append(f"{state:9}{name}{why}")
    return lines
