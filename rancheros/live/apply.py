"""Apply a config change to the running system: the services it redefines, network, DNS, hostname, sshd.

Each part is applied by what owns it: the engine recreates the services whose definition hash changed, the
network service re-applies links, DNS and hostname (`ros network up --once` inside it, or a restart when
DHCP is turned on or off somewhere), and the console's sshd reloads (`ros console reload-ssh` inside it,
SIGHUP: sessions stay). One part failing never stops the others.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Callable

from rancheros.console.run import FROZEN
from rancheros.errors import RosError, ServiceError
from rancheros.live.plan import Plan, plan
from rancheros.sysdocker.catalog import CONSOLE_SERVICE

log = logging.getLogger(__name__)
NETWORK_SERVICE = "network"
EXEC_TIMEOUT = 120  # seconds for a `ros` run inside a service's container


@dataclass
class Outcome:
    """One line per service or subsystem applied, and the parts that failed with their reasons."""

    lines: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def exec_ros(api, container: str, args: list[str], timeout: float = EXEC_TIMEOUT) -> str:
    """`ros ARGS` inside a running service container; its last output line, or ServiceError with its tail."""
    try:
        eid = api.exec_create(container, [FROZEN, *args])["Id"]
        out = api.exec_start(eid).decode(errors="replace").strip()
        code = api.exec_inspect(eid)["ExitCode"]
    except Exception as e:  # not running, gone, transport
        raise ServiceError(f"cannot run `ros {' '.join(args)}` in {container}: {e}") from None
    if code != 0:
        raise ServiceError(f"`ros {' '.join(args)}` in {container} exited {code}: {out[-300:] or 'no output'}")
    return out.splitlines()[-1] if out else ""


def _part(outcome: Outcome, name: str, fn: Callable[[], str | None]) -> None:
    """Run one part; its line, or its failure, goes into the outcome."""
    try:
        line = fn()
    except RosError as e:
        outcome.failed.append(f"{name}: {e}")
        log.error("%s: %s", name, e)
        return
    if line:
        outcome.lines.append(f"{name}: {line}")


def redefined(before: dict[str, str], after: dict[str, str]) -> tuple[list[str], list[str]]:
    """(services new or with another definition hash, services no longer enabled) between two configs."""
    return (sorted(n for n, h in after.items() if before.get(n) != h),
            sorted(n for n in before if n not in after))


def apply_services(engine, before: dict[str, str], outcome: Outcome) -> set[str]:
    """Recreate the services the change redefined, remove those it disabled; returns the services touched.

    The console is never recreated here (that would end every session in it): its new definition takes
    effect with `ros console switch` or the next boot.
    """
    changed, gone = redefined(before, engine.hashes())
    if CONSOLE_SERVICE in changed:
        changed.remove(CONSOLE_SERVICE)
        outcome.lines.append(f"service {CONSOLE_SERVICE}: definition changed; applies with "
                             "`ros console switch` or at the next boot (recreating it would end your session)")
    for name in gone:
        _part(outcome, f"service {name}", lambda name=name: engine.remove(name) and "removed (no longer enabled)")
    if not changed:
        return set(gone)
    report = engine.up(changed)
    for name, action in sorted(report.actions.items()):
        if action not in ("unchanged", "skipped"):
            outcome.lines.append(f"service {name}: {action}")
    for name, reason in sorted(report.failed.items()):
        outcome.failed.append(f"service {name}: {reason}")
    return set(report.actions) | set(gone)


def apply_network(api, p: Plan, touched: set[str]) -> str | None:
    """Hostname, DNS and links through the network service; a DHCP change restarts it."""
    if not p.network or NETWORK_SERVICE in touched:
        return None
    what = ", ".join(w for w, on in (("hostname " + (p.hostname or ""), bool(p.hostname)), ("dns", p.dns),
                                     ("interfaces", p.interfaces)) if on)
    if p.dhcp:
        api.restart(NETWORK_SERVICE, timeout=10)
        return f"restarted for {what} (DHCP turned on or off)"
    exec_ros(api, NETWORK_SERVICE, ["network", "up", "--once"])
    return f"applied {what}"


def apply_change(client, old: dict, new: dict, engine_factory: Callable[[dict], object] | None = None) -> Outcome:
    """Everything `ros config set/merge/unset` changed between effective configs `old` and `new`."""
    from rancheros.sysdocker.engine import Engine

    outcome = Outcome()
    p = plan(old, new, links=sorted(os.listdir("/sys/class/net")) if os.path.isdir("/sys/class/net") else [])
    make = engine_factory or (lambda doc: Engine(client, doc))
    touched: set[str] = set()
    try:
        touched = apply_services(make(new), make(old).hashes(), outcome)
    except RosError as e:
        outcome.failed.append(f"services: {e}")
    _part(outcome, "network", lambda: apply_network(client.api, p, touched))
    if p.ssh:
        _part(outcome, "ssh", lambda: exec_ros(client.api, CONSOLE_SERVICE, ["console", "reload-ssh"]))
    if not outcome.lines and not outcome.failed:
        outcome.lines.append("nothing running needed a change")
    return outcome
