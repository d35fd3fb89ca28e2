"""One multi-call binary: what it does depends on the name it was run as.

The frozen binary is installed once and linked as `init`, `ros`,
`system-docker`, `reboot`, `poweroff`, `halt`; `python -m rancheros NAME ...`
and the plain binary name take the applet as first argument instead.
"""

import atexit
import os
import sys
from typing import Callable, NoReturn

from rancheros import lastresort


def _init(argv: list[str]) -> int:
    if os.getpid() != 1:
        from rancheros.init.main import main as init_main
        return init_main(argv)
    try:
        from rancheros.init.main import main as init_main
        init_main(argv)
        raise RuntimeError("init's main returned")  # never, as PID 1
    except BaseException as e:  # PID 1 must not exit: the kernel would panic
        _pid1_last_resort(e)


def _pid1_last_resort(error: BaseException) -> NoReturn:
    """init's own modules are broken: say why, keep a shell on the console, reap orphans; never exit."""
    import traceback

    try:
        os.write(2, ("init: cannot run: " + "".join(traceback.format_exception(error))).encode(errors="replace"))
    except BaseException:
        pass
    lastresort.reap_forever(shell="/bin/sh")


def _ros(argv: list[str]) -> int:
    from rancheros.cli import main as cli_main
    return cli_main(argv)


def _system_docker(argv: list[str]) -> int:
    from rancheros.sysdocker.applet import main as sd_main
    return sd_main(argv)


def _power(action: str) -> Callable[[list[str]], int]:
    def run(argv: list[str]) -> int:
        from rancheros.cli import main as cli_main
        return cli_main(["os", action, *argv])
    return run


APPLETS: dict[str, Callable[[list[str]], int]] = {
    "init": _init,
    "ros": _ros,
    "system-docker": _system_docker,
    "reboot": _power("reboot"),
    "poweroff": _power("shutdown"),
    "shutdown": _power("shutdown"),
    "halt": _power("halt"),
}


def applet_for(argv0: str, args: list[str], pid: int | None = None) -> tuple[str, list[str]]:
    """Pick the applet from argv[0], or from the first argument when run by its own name."""
    name = os.path.basename(argv0)
    if name == "ros":
        # Without arguments as PID 1, it was booted as `init=/usr/lib/rancheros/ros`. With arguments it is
        # a command that is PID 1 of a container's PID namespace (ntp): init there would remount the
        # shared /run and / read-only when the container stops.
        booted = not args and (os.getpid() if pid is None else pid) == 1
        return ("init" if booted else "ros"), args
    if name in APPLETS:
        return name, args
    if args and args[0] in APPLETS:
        return args[0], args[1:]
    return "ros", args


def main() -> int:
    name, args = applet_for(sys.argv[0], sys.argv[1:])
    return APPLETS[name](args) or 0


def exit_now(status: int) -> None:
    """Exit without the interpreter's teardown (a fifth of a short `ros` call): atexit work and output first."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`ros config export | head`) is not an error of ours
            pass
    os._exit(status)


if __name__ == "__main__":
    exit_now(main())
