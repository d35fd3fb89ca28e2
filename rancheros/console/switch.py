"""Changing the console without locking anyone out.

A switch first runs the new console once as `console-check` (its image pulled, accounts and keys made,
its sshd answering on a spare port); only then does a helper container, outside both consoles, swap
them, and it puts the old one back if the new one's sshd does not answer on the real port. At boot, a
configured console that cannot start is replaced by the default console for that boot.
"""

from __future__ import annotations

import dataclasses
import logging
import socket

from docker.errors import DockerException, NotFound

from rancheros.config.store import LocalStore
from rancheros.config import set_key
from rancheros.console import persist
from rancheros.console.choice import ConsoleNote, clear_note, write_note
from rancheros.console.run import FROZEN, ssh_settings
from rancheros.console.sshd import answers, reach_address
from rancheros.errors import ServiceError
from rancheros.sysdocker.catalog import CONSOLE_SERVICE, DEFAULT_CONSOLE, with_console
from rancheros.sysdocker.service import create_args

log = logging.getLogger(__name__)

CHECK_NAME = "console-check"       # the trial run of a new console
SWAP_NAME = "console-switch"       # the helper that swaps the two, outside both
PREVIOUS_NAME = "console-previous"  # the old console while the new one proves itself
CHECK_TIMEOUT = 180.0
ANSWER_TIMEOUT = 90.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _inspect(api, name: str) -> dict | None:
    try:
        return api.inspect_container(name)
    except NotFound:
        return None


def running_console(api) -> str | None:
    """The name of the console whose container runs now (its label), None when none runs."""
    c = _inspect(api, CONSOLE_SERVICE)
    if c is None or not c["State"]["Running"]:
        return None
    return persist.console_of(c["Config"].get("Labels"))


def _remove(api, name: str) -> None:
    try:
        api.remove_container(name, force=True)
    except NotFound:
        pass


def check(engine, port: int | None = None, timeout: float = CHECK_TIMEOUT) -> None:
    """Pull the console of `engine.doc` and run it once with its sshd on a spare port; ServiceError says why."""
    services, errors, _ = engine.definitions()
    if CONSOLE_SERVICE in errors:
        raise ServiceError(errors[CONSOLE_SERVICE])
    svc = services[CONSOLE_SERVICE]
    engine.ensure_image(svc.image)
    port = port or free_port()
    trial = dataclasses.replace(svc, name=CHECK_NAME, restart="no", tty=False, stdin_open=False,
                                command=[FROZEN, "console", "run", "--check-port", str(port)], entrypoint=None)
    args = create_args(trial)
    api = engine.api
    _remove(api, CHECK_NAME)
    engine.say(f"checking the console in {svc.image}: its sshd must answer on port {port}")
    cid = api.create_container(host_config=api.create_host_config(**args.host), **args.container)["Id"]
    try:
        api.start(cid)
        try:
            status = api.wait(cid, timeout=timeout)["StatusCode"]
        except Exception as e:  # the read timed out: the check hangs
            raise ServiceError(f"the console check did not finish within {timeout:.0f}s ({e})") from None
        if status != 0:
            tail = api.logs(cid, tail=6).decode(errors="replace").strip()
            raise ServiceError(f"the console in {svc.image} failed its check (exit status {status})"
                               f"{': ' + tail if tail else ''}")
    finally:
        _remove(api, cid)


def start_swap(engine, old: str, new: str) -> str:
    """Start the helper container that swaps the consoles (`ros console swap OLD NEW`); returns its id."""
    services, _, _ = engine.definitions()
    base = next((s for s in services.values() if s.name == "command-volumes"), None)
    if base is None:
        raise ServiceError("no command-volumes service: cannot run the console swap helper")
    helper = dataclasses.replace(base, name=SWAP_NAME, restart="no", labels={"io.rancher.os.scope": "system"}, volumes=[],
                                 command=[FROZEN, "console", "swap", old, new], network_mode="host",
                                 pid="host", privileged=True,
                                 volumes_from=["system-volumes", "command-volumes"])
    args = create_args(helper)
    api = engine.api
    _remove(api, SWAP_NAME)
    cid = api.create_container(host_config=api.create_host_config(**args.host), **args.container)["Id"]
    api.start(cid)
    return cid


def swap(engine, store: LocalStore, old: str, new: str, timeout: float = ANSWER_TIMEOUT) -> None:
    """Replace the running console with `new` (the config already names it); on any failure put `old` back,
    name it in the config again and leave a note. Runs in the helper container, never in a console."""
    api = engine.api
    previous = (_inspect(api, CONSOLE_SERVICE) or {}).get("Id")
    _remove(api, PREVIOUS_NAME)
    if previous:
        api.rename(previous, PREVIOUS_NAME)
        api.stop(previous, timeout=10)
    settings = ssh_settings(engine.doc)
    try:
        report = engine.up([CONSOLE_SERVICE])
        if CONSOLE_SERVICE in report.failed:
            raise ServiceError(report.failed[CONSOLE_SERVICE])
        if not answers(reach_address(settings), settings.port, timeout):
            raise ServiceError(f"its sshd did not answer on port {settings.port} within {timeout:.0f}s")
    except (ServiceError, DockerException) as e:
        why = f"switch to {new} failed: {e}"
        log.error("%s; %s stays the console", why, old)
        failed = _inspect(api, CONSOLE_SERVICE)
        if failed is not None:
            persist.retire(api, failed, engine.doc)
        if previous:
            api.rename(previous, CONSOLE_SERVICE)
            api.start(previous)
        store.update(lambda d: set_key(d, "rancher.console", old))
        write_note(ConsoleNote(new, old, why))
        raise ServiceError(why) from None
    if previous:
        persist.retire(api, api.inspect_container(previous), engine.doc)
    clear_note()
    log.info("console is now %s", new)


def fall_back_at_boot(engine, report) -> None:
    """A configured console that failed to start, or whose sshd does not answer, is replaced by the default
    console for this boot."""
    wanted = str((engine.doc.get("rancher") or {}).get("console") or DEFAULT_CONSOLE)
    if wanted == DEFAULT_CONSOLE:
        return
    why = report.failed.get(CONSOLE_SERVICE)
    if why is None:  # started: it must also answer (a crash loop, a broken image's sshd do not)
        settings = ssh_settings(engine.doc)
        if answers(reach_address(settings), settings.port, ANSWER_TIMEOUT):
            return
        why = f"its sshd did not answer on port {settings.port} within {ANSWER_TIMEOUT:.0f}s"
    log.error("console %s cannot start (%s); the default console runs for this boot", wanted, why)
    fallback = type(engine)(engine.client, with_console(engine.doc, DEFAULT_CONSOLE), catalog=engine.catalog)
    again = fallback.up([CONSOLE_SERVICE])
    if CONSOLE_SERVICE in again.failed:
        log.error("the default console failed too: %s", again.failed[CONSOLE_SERVICE])
        return
    report.failed.pop(CONSOLE_SERVICE, None)
    write_note(ConsoleNote(wanted, DEFAULT_CONSOLE, f"could not start this boot: {why}"))
