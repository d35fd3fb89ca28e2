#!/usr/bin/env python3
"""Where our boot's time goes: the steps between init's console lines, from serial logs.

Usage: bench/boot_profile.py SERIAL_LOG [...]   (e.g. the logs bench/compare_boot.py keeps)

Each `[ uptime] rancheros: ...` line ends a step that began at the line before it (the first
at the kernel's start). With several logs, each step's duration is the median over the logs.
"""

from __future__ import annotations

import re
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

LINE = re.compile(r"^\[\s*(\d+\.\d+)\] rancheros: (.+)$", re.M)
# Lines that say nothing about time spent (they follow the step they describe at once).
SKIP = re.compile(r"resident memory|^system-docker: starting dockerd")


@dataclass
class Step:
    label: str
    ends_at: float   # guest uptime, seconds
    took: float


def label_of(text: str) -> str:
    """A step's name: the line without its figures, so the same step matches across boots."""
    text = re.sub(r"^image \S+( \S+,?)*? (already loaded|loaded in)", r"image archive \2", text)
    text = re.sub(r"\d+(\.\d+)?", "N", text)
    return text[:70]


def steps(serial: str) -> list[Step]:
    """The boot's steps in order; repeated labels (a second boot in one log) are kept apart by order."""
    out, last = [], 0.0
    for m in LINE.finditer(serial):
        t, text = float(m.group(1)), m.group(2).strip()
        if SKIP.search(text):
            continue
        out.append(Step(label_of(text), t, t - last))
        last = t
        if text.startswith("services up"):
            break
    return out


def median_profile(serials: list[str]) -> list[Step]:
    """Steps of the first log, each with the median end and duration over the logs that have it."""
    runs = [{s.label: s for s in steps(text)} for text in serials]
    first = steps(serials[0]) if serials else []
    return [Step(s.label, statistics.median(r[s.label].ends_at for r in runs if s.label in r),
                 statistics.median(r[s.label].took for r in runs if s.label in r)) for s in first]


def markdown(profile: list[Step], runs: int) -> str:
    lines = [f"| step (ends with the line) | ends at (s, guest uptime) | took (s) |", "|---|---|---|"]
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
