"""The one door for running a helper program: always a timeout, errors that say what happened.

A program that outlives its timeout is killed; one that does not go even after SIGKILL (stuck in
the kernel) is left behind, never waited for: PID 1's reaper collects it if it ever exits.
"""

from __future__ import annotations

import logging
import signal
import subprocess
from dataclasses import dataclass
from typing import Mapping

from rancheros.errors import CommandError

log = logging.getLogger(__name__)

KILL_WAIT = 2.0  # seconds a killed program gets to go before it is left behind


class CommandNotFound(CommandError):
    """The program is not on this system."""


class CommandTimeout(CommandError):
    """The program did not exit within its timeout and was killed."""


class CommandFailed(CommandError):
    """The program ran and ended with a status it should not have; `done` holds what it said."""

    def __init__(self, message: str, done: "Done"):
        super().__init__(message)
        self.done = done


@dataclass(frozen=True)
class Done:
    """A program that ran to its end: its exit status and what it printed."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def said(self) -> str:
        """The tail of what it said, on one line (stderr first)."""
        return (self.stderr.strip() or self.stdout.strip()).replace("\n", "; ")[-300:]


def exit_words(returncode: int) -> str:
    """`exit 2` or `killed by signal SIGKILL` (pure)."""
    if returncode >= 0:
        return f"exit {returncode}"
    try:
        return f"killed by signal {signal.Signals(-returncode).name}"
    except ValueError:
        return f"killed by signal {-returncode}"


def run(argv: list[str], what: str, timeout: float, *, input: str | None = None,
        env: Mapping[str, str] | None = None, cwd: str | None = None, ok: tuple[int, ...] | None = (0,),
        merge_output: bool = False) -> Done:
    """Run `argv` to its end; CommandError naming `what` when it is missing, cannot start, outlives
    `timeout` (killed), or ends with a status not in `ok` (None: any exit is an answer)."""
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT if merge_output else subprocess.PIPE,
                                text=True, errors="replace", env=env, cwd=cwd)
    except FileNotFoundError:
        raise CommandNotFound(f"{what}: {argv[0]} not found") from None
    except (OSError, ValueError) as e:
        raise CommandError(f"{what}: cannot run {argv[0]}: {getattr(e, 'strerror', None) or e}") from None
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        try:
            proc.communicate(timeout=KILL_WAIT)
            left = ""
        except subprocess.TimeoutExpired:  # in D state, or a grandchild holds its pipes
            left = f"; pid {proc.pid} did not go after SIGKILL, left behind"
            for f in (proc.stdin, proc.stdout, proc.stderr):
                try:
                    if f:
                        f.close()
                except OSError:
                    pass
        raise CommandTimeout(f"{what}: no exit within {timeout:g}s; killed{left}") from None
    done = Done(list(argv), proc.returncode, out or "", err or "")
    if ok is not None and done.returncode not in ok:
        detail = f": {done.said}" if done.said else ""
        raise CommandFailed(f"{what} failed ({exit_words(done.returncode)}){detail}", done)
    return done


def output(argv: list[str], what: str, timeout: float, **kwargs) -> str:
    """`run`'s stdout, for commands asked a question."""
    return run(argv, what, timeout, **kwargs).stdout


def run_logged(argv: list[str], what: str, timeout: float, env: Mapping[str, str] | None = None) -> bool:
    """For long-lived services: True when it exited 0, else False after one log line saying why."""
    try:
        run(argv, what, timeout, env=env)
    except CommandError as e:
        log.error("%s", e)
        return False
    return True
