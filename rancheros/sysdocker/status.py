"""`ros service status`: a service's state, restarts since boot, last exit, Docker's backoff, last log lines.

The backoff is Docker's own restart manager: after a run shorter than 10 s the wait before the next restart
doubles from 100 ms up to one minute, and a run of 10 s or more resets it. `next_delay` is that rule (the
boot manager's watcher uses it to say when an essential service comes back); the delays shown are measured,
from the daemon's die and start events.
"""

from __future__ import annotations

import datetime
import signal
import time
from dataclasses import dataclass, field

from rancheros.errors import ServiceError
from rancheros.sysdocker.service import LABEL_SERVICE

FIRST_DELAY, MAX_DELAY, STABLE_RUN = 0.1, 60.0, 10.0   # moby's restartmanager


def next_delay(previous: float | None, ran_for: float) -> float:
    """The wait Docker puts before restarting a container that exited after `ran_for` seconds."""
    if previous is None or ran_for >= STABLE_RUN:
        return FIRST_DELAY
    return min(previous * 2, MAX_DELAY)


def delay_after(restarts: int) -> float:
    """Docker's wait before restart number `restarts` of a loop whose runs all lasted under 10 s."""
    return min(FIRST_DELAY * 2 ** max(0, restarts - 1), MAX_DELAY)


def signal_of(exit_code: int | None) -> str | None:
    """SIGKILL for Docker's 137: a process killed by a signal exits 128+N in a container."""
    if exit_code is None or not 128 < exit_code < 128 + 65:
        return None
    try:
        return signal.Signals(exit_code - 128).name
    except ValueError:
        return None


def epoch(stamp: str) -> float | None:
    """Docker's RFC 3339 time as epoch seconds; None for its zero time (never started, never exited)."""
    from rancheros.sysdocker.engine import finished_epoch

    t = finished_epoch(stamp or "")
    return t if t > 0 else None


def _when(ev: dict) -> float:
    return ev["timeNano"] / 1e9 if ev.get("timeNano") else float(ev.get("time", 0))


def _action(ev: dict) -> str | None:
    return ev.get("Action") or ev.get("status")


def restart_delays(events: list[dict]) -> list[float]:
    """Seconds between each `die` and the `start` after it, from Docker's events in any order."""
    delays, died = [], None
    for ev in sorted(events, key=_when):
        action = _action(ev)
        if action == "die":
            died = _when(ev)
        elif action == "start" and died is not None:
            delays.append(round(_when(ev) - died, 2))
            died = None
    return delays


def event_exit_code(ev: dict) -> int | None:
    """The exit code a `die` event carries (None when it carries none)."""
    code = ((ev.get("Actor") or {}).get("Attributes") or {}).get("exitCode")
    return int(code) if code is not None and str(code).lstrip("-").isdigit() else None


def last_die_code(events: list[dict]) -> int | None:
    """The exit code of the last `die` event: Docker resets the inspected ExitCode to 0 when it restarts."""
    dies = [ev for ev in sorted(events, key=_when) if _action(ev) == "die"]
    return event_exit_code(dies[-1]) if dies else None


@dataclass
class ServiceStatus:
    """What `ros service status NAME` shows; times are epoch seconds (None: never)."""

    name: str
    state: str
    restarts: int
    policy: str
    exit_code: int | None = None
    signal: str | None = None
    oom_killed: bool = False
    started_at: float | None = None
    finished_at: float | None = None
    delays: list[float] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)

    @property
    def last_exit(self) -> str:
        if self.finished_at is None:
            return "none"
        what = f"killed by {self.signal}" if self.signal else f"status {self.exit_code}"
        return what + (" (out of memory)" if self.oom_killed else "")


def from_inspect(name: str, info: dict, delays: list[float], logs: list[str],
                 died_with: int | None = None) -> ServiceStatus:
    """A ServiceStatus from `docker inspect` of the service's container (`died_with`: the last die event's code)."""
    state = info["State"]
    finished = epoch(state.get("FinishedAt", ""))
    code = state.get("ExitCode") if finished else None
    if state.get("Running") and finished and died_with is not None:
        code = died_with   # running again after a restart: inspect says 0, the die event says how it ended
    return ServiceStatus(name=name, state=state.get("Status", "?"), restarts=int(info.get("RestartCount") or 0),
                         policy=((info.get("HostConfig") or {}).get("RestartPolicy") or {}).get("Name") or "no",
                         exit_code=code, signal=signal_of(code), oom_killed=bool(state.get("OOMKilled")),
                         started_at=epoch(state.get("StartedAt", "")), finished_at=finished,
                         delays=delays, logs=logs)


def status(api, name: str, since: float, log_lines: int = 5) -> ServiceStatus:
    """Ask system Docker about service `name` (its container, the events since `since`, its log's tail)."""
    from docker.errors import NotFound

    try:
        info = api.inspect_container(name)
    except NotFound:
        info = None
    if info is None or (info["Config"].get("Labels") or {}).get(LABEL_SERVICE) != name:
        raise ServiceError(f"no container for service {name} (`ros service ps -a` lists them)")
    events = list(api.events(since=int(since), until=int(time.time()) + 1, decode=True,
                             filters={"container": info["Id"], "event": ["die", "start"]}))
    tail = api.logs(info["Id"], tail=log_lines).decode(errors="replace").splitlines() if log_lines else []
    return from_inspect(name, info, restart_delays(events), tail, last_die_code(events))


def _ago(t: float | None, now: float) -> str:
    if t is None:
        return "never"
    stamp = datetime.datetime.fromtimestamp(t).strftime("%H:%M:%S")
    return f"{stamp} ({now - t:.0f}s ago)"


def format_status(s: ServiceStatus, now: float | None = None, shown_delays: int = 8) -> str:
    """A few aligned lines, then the last log lines indented."""
    now = time.time() if now is None else now
    lines = [f"service {s.name}",
             f"  state:      {s.state} (restart policy {s.policy})",
             f"  restarts:   {s.restarts} since boot",
             f"  started:    {_ago(s.started_at, now)}",
             f"  last exit:  {s.last_exit}" + (f" at {_ago(s.finished_at, now)}" if s.finished_at else "")]
    if s.delays:
        lines.append("  backoff:    " + " ".join(f"{d:g}" for d in s.delays[-shown_delays:]) +
                     " s (Docker's waits before the last restarts; doubling up to 60 s while runs last under 10 s)")
    if s.logs:
        lines += ["  last log lines:"] + [f"    {line}" for line in s.logs]
    return "\n".join(lines)


def summary_line(s: ServiceStatus) -> str:
    """One row of `ros service status` without a name."""
    backoff = f"{s.delays[-1]:g}s" if s.delays and s.state == "restarting" else "-"
    return f"{s.name:20}{s.state:12}{s.restarts:<10}{s.last_exit:22}{backoff}"
