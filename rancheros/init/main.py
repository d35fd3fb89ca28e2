"""The `init` applet: PID 1 of RancherOS.

Early boot (mounts, modules, state disk, the new root, switch_root) runs in
PID 1 itself before anything else is spawned, because chroot only changes the
calling process. Then PID 1 forks the boot manager (rancheros.manager),
which starts system Docker and the services, and PID 1 settles into its loop
(rancheros.init.pid1).

PID 1 must never exit (the kernel panics): everything it runs, imports
included, sits inside `run_guarded`. A fatal error is logged and ends in the
recovery shell, or with `panic=N` on the kernel command line in a reboot after
N s; returning from the boot is itself such an error. This module imports only
the standard library at the top, so nothing can fail before the guard.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, NoReturn

log = logging.getLogger(__name__)

# The inode of the initial PID namespace (PROC_PID_INIT_INO): the real PID 1 lives there.
_INIT_PID_NS_INO = 0xEFFFFFFC


@dataclass
class InitArgs:
    """init's own options; `problems` lists the words that were malformed (and ignored)."""

    test_manager: str | None = None
    console: str | None = None
    stop_timeout: float | None = None
    kill_grace: float | None = None
    unmount_under: str | None = None
    problems: list[str] = field(default_factory=list)


def _seconds(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or not 0 <= value <= 86400:
        raise ValueError("not a number of seconds between 0 and 86400")
    return value


def _path(text: str) -> str:
    if not text or "\0" in text:
        raise ValueError("not a path")
    return text


_OPTIONS: dict[str, tuple[str, Callable[[str], object]]] = {
    "--test-manager": ("test_manager", _path),
    "--console": ("console", _path),
    "--stop-timeout": ("stop_timeout", _seconds),
    "--kill-grace": ("kill_grace", _seconds),
    "--unmount-under": ("unmount_under", _path),  # test mode only: unmount just this directory's mounts
}


def _parse(argv: list[str]) -> InitArgs:
    """init's options (`--opt value` or `--opt=value`); never raises, never exits.

    The kernel hands init every cmdline word it does not know: those are not ours to reject, and a
    malformed value of ours is reported and ignored (argparse would have exited PID 1: a kernel panic).
    """
    args = InitArgs()
    words = [w for w in argv if isinstance(w, str)]
    i = 0
    while i < len(words):
        name, eq, value = words[i].partition("=")
        i += 1
        if name not in _OPTIONS:
            continue
        if not eq:
            if i >= len(words):
                args.problems.append(f"{name}: no value")
                continue
            value, i = words[i], i + 1
        attr, convert = _OPTIONS[name]
        try:
            setattr(args, attr, convert(value))
        except (ValueError, OverflowError) as e:
            args.problems.append(f"{name} {value!r}: {e}")
    return args


def _initial_pid_namespace() -> bool:
    """True unless /proc shows another PID namespace (a test's `unshare --pid`); unreadable counts as True."""
    try:
        return os.stat("/proc/self/ns/pid").st_ino == _INIT_PID_NS_INO
    except BaseException:
        return True


def test_mode_allowed(pid: int, initial_ns: bool) -> bool:
    """--test-manager runs only outside the machine's real PID 1: a plain process, or a test's PID namespace."""
    return pid != 1 or not initial_ns


def _say(text: str) -> None:
    """One line on stderr (the console for PID 1), before logging exists; never raises."""
    try:
        os.write(2, f"init: {text}\n".encode(errors="replace"))
    except BaseException:
        pass


def _ensure_log(console: str | None) -> None:
    """A console handler on the `rancheros` logger if none was set up yet."""
    root = logging.getLogger("rancheros")
    if root.handlers:
        return
    from rancheros import log as boot_log
    from rancheros.init.console_stream import open_console
    boot_log.setup(open_console(console))


def _last_resort(error: BaseException) -> NoReturn:
    """Even the recovery path failed: say so, reap children for ever; reboot after panic=N if it is set."""
    _say(f"fatal: {type(error).__name__}: {error}; the recovery shell could not start either")
    seconds = None
    try:
        from rancheros.init.recovery import panic_timeout, read_cmdline
        seconds = panic_timeout(read_cmdline())
    except BaseException:
        pass
    from rancheros import lastresort
    from rancheros.system import libc

    lastresort.reap_forever(reboot_at=None if not seconds else time.monotonic() + max(0, seconds),
                            reboot=lambda: libc.reboot(libc.RB_AUTOBOOT))


def fatal(error: BaseException, console: str | None = None) -> NoReturn:
    """PID 1 cannot boot: log why, then the recovery shell under the PID 1 loop (panic=N: a reboot). Never returns."""
    real = os.getpid() == 1 and _initial_pid_namespace()
    try:
        _ensure_log(console)
        log.critical("boot failed: %s: %s", type(error).__name__, error, exc_info=not isinstance(error, OSError))
    except BaseException:
        _say(f"boot failed: {type(error).__name__}: {error}")
    try:
        if real:  # /proc, /dev... for the shell and panic=N; a test's namespace keeps the host's
            from rancheros.init import mounts
            for problem in mounts.early():
                log.warning("%s", problem)
    except BaseException as e:
        _say(f"early mounts: {e}")
    try:
        from rancheros.init import recovery
        from rancheros.init.pid1 import Pid1, Pid1Config
        Pid1(Pid1Config(manager=functools.partial(recovery.shell, console or "/dev/console"), name="recovery shell",
                        unmount=real)).run()
    except BaseException as e:  # Pid1.run never returns: this is an import that failed
        error = e
    _last_resort(error)


def run_guarded(body: Callable[[], object], console: Callable[[], str | None] = lambda: None) -> NoReturn:
    """Run `body` (PID 1's whole life) so that nothing it does, returning included, ends the process.

    `console` says, at the time of the failure, where the recovery shell goes (None: /dev/console).
    """
    try:
        body()
        from rancheros.errors import BootError
        raise BootError("the boot returned to init's main; PID 1 must never end")
    except BaseException as e:  # anything at all: the operator gets a shell, the kernel no panic
        try:
            where = console()
        except BaseException:
            where = None
        fatal(e, where)


def _run_test_manager(args: InitArgs) -> NoReturn:
    """Testing: skip early boot and run MODULE:FUNC as the boot manager; no unmounting but under --unmount-under."""
    import importlib

    from rancheros import log as boot_log
    from rancheros.init.console_stream import open_console
    from rancheros.init.pid1 import Pid1, Pid1Config

    boot_log.setup(open_console(args.console or "/dev/stderr"))
    log.info("init started (test mode, pid %d)", os.getpid())
    for problem in args.problems:
        log.warning("ignoring init option %s", problem)
    module, _, attr = (args.test_manager or "").partition(":")
    cfg = Pid1Config(manager=getattr(importlib.import_module(module), attr or "main"), unmount=False)
    if args.stop_timeout is not None:
        cfg.stop_timeout = args.stop_timeout
    if args.kill_grace is not None:
        cfg.kill_grace = args.kill_grace
    under = os.path.realpath(args.unmount_under) if args.unmount_under else None
    if under == "/":
        log.warning("ignoring --unmount-under /: a test unmounts only its own directory")
    elif under:
        cfg.unmount, cfg.unmount_under = True, under
    Pid1(cfg).run()


def _preload_fatal_path() -> None:
    """Import now what `fatal` needs: after switch_root the initramfs's files are gone."""
    import rancheros.errors  # noqa: F401
    from rancheros import log as _log  # noqa: F401
    from rancheros.init import console_stream as _console, mounts as _mounts, pid1 as _pid1, recovery as _recovery  # noqa: F401
    from rancheros.system import libc as _libc  # noqa: F401


def _boot(argv: list[str], holder: list[str | None]) -> None:
    """The production PID 1: parse (never fails), then the early boot and the PID 1 loop."""
    args = _parse(argv)
    _preload_fatal_path()
    holder[0] = args.console
    for problem in args.problems:
        _say(f"ignoring option {problem}")
    if args.test_manager:
        _say("ignoring --test-manager: a testing option, never honoured by the machine's PID 1")
    from rancheros.init.boot import boot_pid1
    boot_pid1(args.console)


def main(argv: list[str]) -> int:
    """Run as PID 1 (never returns), or with --test-manager as a test's init; anything else is refused."""
    pid = os.getpid()
    if test_mode_allowed(pid, _initial_pid_namespace()):
        args = _parse(argv)
        if args.test_manager:
            _run_test_manager(args)  # a failure here ends the test's init, as a test wants
        if pid != 1:
            print("init: must run as PID 1 (the kernel starts it); use `ros` for everything else", file=sys.stderr)
            return 1
    console: list[str | None] = [None]
    run_guarded(lambda: _boot(argv, console), console=lambda: console[0])
