"""The boot manager's watch on the essential services (console, network, user Docker): each time one exits
and Docker is going to restart it, one console line says so and when. Docker waits longer before each
restart of a crash loop (up to a minute), so that is one line per backoff step, never a flood.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from rancheros.sysdocker.service import LABEL_ESSENTIAL, LABEL_SERVICE
from rancheros.sysdocker.status import delay_after, epoch, event_exit_code, next_delay, signal_of

log = logging.getLogger(__name__)
ON_PURPOSE = 30.0  # seconds: a die this soon after Docker was asked to signal the container was asked for


def exit_line(name: str, info: dict, code: int | None, previous_delay: float | None) -> tuple[str | None, float | None]:
    """(the console line for an exit with status `code` or None, the wait Docker puts before the restart),
    from `inspect` soon after the die.

    Docker marks the container restarting, and counts the restart, before it reports the die; after a
    short wait it runs again (inspect may come that late). Neither means stopped on purpose (`ros service
    stop`, shutdown), unless an on-failure limit ran out.
    """
    state = info["State"]
    how = f"was killed by {signal_of(code)}" if signal_of(code) else f"exited with status {code}"
    count = int(info.get("RestartCount") or 0)
    policy = (info.get("HostConfig") or {}).get("RestartPolicy") or {}
    if not state.get("Restarting") and not state.get("Running"):
        limit = policy.get("MaximumRetryCount") or 0
        if policy.get("Name") == "on-failure" and limit and count >= limit and code:
            return f"service {name} {how}; Docker gives up after {count} restarts", None
        return None, None
    started, finished = epoch(state.get("StartedAt", "")), epoch(state.get("FinishedAt", ""))
    ran_for = (finished - started) if started and finished and finished > started else 0.0
    delay = next_delay(previous_delay, ran_for) if previous_delay is not None else (
        delay_after(count) if ran_for < 10 else next_delay(None, ran_for))
    return f"service {name} {how}; Docker restarts it in {delay:g}s (restart {count} since boot)", delay


def watch_exits(api, stop: threading.Event, say: Callable[[str], None] = log.warning) -> None:
    """Until `stop` or the daemon goes away: one line per exit of an essential service that will restart."""
    delays: dict[str, float | None] = {}
    killed: dict[str, float] = {}   # container -> when Docker was asked to signal it (stop, restart, kill)
    try:
        events = api.events(decode=True, filters={"type": "container", "event": ["kill", "die"],
                                                  "label": f"{LABEL_ESSENTIAL}=true"})
        threading.Thread(target=lambda: (stop.wait(), events.close()), name="service watch closer",
                         daemon=True).start()   # a stop ends the blocking read at once
        for ev in events:
            if stop.is_set():
                return
            cid = ev.get("id") or (ev.get("Actor") or {}).get("ID", "")
            if (ev.get("Action") or ev.get("status")) == "kill":
                killed[cid] = float(ev.get("time") or 0)
                continue
            if float(ev.get("time") or 0) - killed.pop(cid, -ON_PURPOSE) < ON_PURPOSE:
                continue   # `ros service stop/restart`, a recreate: asked for, not a crash
            try:
                info = api.inspect_container(cid)
            except Exception:  # removed at once (a recreate): nothing to report
                continue
            name = (info["Config"].get("Labels") or {}).get(LABEL_SERVICE) or info.get("Name", "?").lstrip("/")
            code = event_exit_code(ev)
            code = info["State"].get("ExitCode") if code is None else code
            line, delays[cid] = exit_line(name, info, code, delays.get(cid))
            if line and not stop.is_set():
                say(line)
    except Exception as e:  # the daemon went away: the supervisor restarts it, and a new watch with it
        if not stop.is_set():
            log.debug("service watch ended: %s", e)


def start(api, stop: threading.Event) -> threading.Thread:
    """The watch in a daemon thread: shutdown never waits for it."""
    thread = threading.Thread(target=watch_exits, args=(api, stop), name="service watch", daemon=True)
    thread.start()
    return thread
