"""The boot's milestones: PID 1's and the boot manager's console lines, read back from the trace file or a
serial log, named so the same step matches across boots, and compared against a profile.

Pure but for `read_trace`; `ros boot trace` prints it, `bench/boot_regress.py` compares runs.
"""

from __future__ import annotations

import json
import re
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rancheros.errors import RosError

# A console line of ours on a serial log: `[   3.21] rancheros: text`.
CONSOLE_LINE = re.compile(r"^\[\s*(\d+\.\d+)\] rancheros: (.+)$", re.M)


class TraceError(RosError):
    """No trace to read."""


def label_of(text: str) -> str:
    """A step's name: the line without its figures, so the same step matches across boots."""
    text = re.sub(r"^image \S+( \S+,?)*? (already loaded|loaded in)", r"image archive \2", text)
    text = re.sub(r"\d+(\.\d+)?", "N", text)
    return text[:70]


@dataclass(frozen=True)
class Milestone:
    """One console line: when (seconds since the kernel started), how loud, who, what; `step` its label."""

    t: float
    message: str
    level: str = "info"
    source: str = "rancheros"

    @property
    def step(self) -> str:
        return label_of(self.message)


@dataclass
class Trace:
    boot_id: str = ""
    milestones: list[Milestone] = field(default_factory=list)
    bad_lines: int = 0

    def as_json(self) -> dict:
        return {"boot_id": self.boot_id,
                "milestones": [{**asdict(m), "step": m.step} for m in self.milestones]}


def parse_trace(text: str) -> Trace:
    """The JSON-lines trace; a line that does not parse is counted, not fatal (PID 1 may have been cut off)."""
    trace = Trace()
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if "boot_id" in rec and "message" not in rec:
                trace.boot_id = str(rec["boot_id"])
                continue
            trace.milestones.append(Milestone(float(rec["t"]), str(rec["message"]), str(rec.get("level", "info")),
                                              str(rec.get("source", "rancheros"))))
        except (ValueError, KeyError, TypeError, AttributeError):
            trace.bad_lines += 1
    return trace


def read_trace(path: str | Path) -> Trace:
    try:
        return parse_trace(Path(path).read_text(errors="replace"))
    except FileNotFoundError:
        raise TraceError(f"no boot trace at {path}: this system did not boot with RancherOS's init "
                         "(or /run was replaced)") from None
    except OSError as e:
        raise TraceError(f"cannot read the boot trace {path}: {e.strerror or e}") from None


def parse_serial(text: str) -> list[Milestone]:
    """Our console lines in a serial log, in order (the kernel's and the services' are not ours)."""
    return [Milestone(float(m.group(1)), m.group(2).strip()) for m in CONSOLE_LINE.finditer(text)]


# --- steps and their comparison -------------------------------------------------------------------------
# Lines that say nothing about time spent (they follow the step they describe at once).
SKIP = re.compile(r"resident memory|^system-docker: starting dockerd")


@dataclass
class Step:
    label: str
    ends_at: float   # guest uptime, seconds
    took: float


def steps(milestones: list[Milestone]) -> list[Step]:
    """The boot's steps up to "services up": each line ends a step that began at the line before it."""
    out, last = [], 0.0
    for m in milestones:
        if SKIP.search(m.message):
            continue
        out.append(Step(m.step, m.t, m.t - last))
        last = m.t
        if m.message.startswith("services up"):
            break
    return out


def median_profile(runs: list[list[Milestone]]) -> list[Step]:
    """Steps of the first run, each with the median end and duration over the runs that have it."""
    by_label = [{s.label: s for s in steps(run)} for run in runs]
    first = steps(runs[0]) if runs else []
    return [Step(s.label, statistics.median(r[s.label].ends_at for r in by_label if s.label in r),
                 statistics.median(r[s.label].took for r in by_label if s.label in r)) for s in first]


@dataclass(frozen=True)
class Row:
    """One step of a comparison: its time in the profile and in this run (None: absent there)."""

    label: str
    profile: float | None
    run: float | None
    regression: bool = False

    @property
    def ratio(self) -> float | None:
        return self.run / self.profile if self.run is not None and self.profile else None


def compare(profile: list[Step], run: list[Step], ratio: float = 1.2, seconds: float = 1.0) -> list[Row]:
    """Each step's end in the profile and the run; a regression ends later by more than both `ratio` and
    `seconds` (a noisy TCG host moves every figure a little). New steps follow the profile's."""
    now = {s.label: s for s in run}
    rows = []
    for s in profile:
        r = now.get(s.label)
        late = r is not None and r.ends_at > s.ends_at * ratio and r.ends_at - s.ends_at > seconds
        rows.append(Row(s.label, s.ends_at, r.ends_at if r else None, late))
    known = {s.label for s in profile}
    rows += [Row(s.label, None, s.ends_at) for s in run if s.label not in known]
    return rows
