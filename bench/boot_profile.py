#!/usr/bin/env python3
"""Where our boot's time goes: the steps between init's console lines, from serial logs.

Usage: bench/boot_profile.py SERIAL_LOG [...]   (e.g. the logs bench/compare_boot.py keeps)

Each `[ uptime] rancheros: ...` line ends a step that began at the line before it (the first
at the kernel's start). With several logs, each step's duration is the median over the logs.
The parsing and the step names are rancheros.boottrace's, the same `ros boot trace` uses.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rancheros import boottrace  # noqa: E402
from rancheros.boottrace import Step, label_of  # noqa: E402,F401  (label_of: for callers of this module)


def steps(serial: str) -> list[Step]:
    """The boot's steps in a serial log, up to "services up"."""
    return boottrace.steps(boottrace.parse_serial(serial))


def median_profile(serials: list[str]) -> list[Step]:
    """Steps of the first log, each with the median end and duration over the logs that have it."""
    return boottrace.median_profile([boottrace.parse_serial(text) for text in serials])


def markdown(profile: list[Step], runs: int) -> str:
    lines = ["| step (ends with the line) | ends at (s, guest uptime) | took (s) |", "|---|---|---|"]
    lines += [f"| {s.label} | {s.ends_at:.1f} | {s.took:.1f} |" for s in profile]
    return f"Median over {runs} boot(s); guest uptime starts at the kernel, a few seconds after QEMU.\n\n" + \
        "\n".join(lines)


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    serials = [Path(p).read_text(errors="replace") for p in sys.argv[1:]]
    print(markdown(median_profile(serials), len(serials)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
