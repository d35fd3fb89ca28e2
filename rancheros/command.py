"""Run helper programs: for long-lived services a failure is one log line; for commands (`run_checked`) an error."""

from __future__ import annotations

import logging
import subprocess
from typing import Mapping

from rancheros.errors import CommandError

log = logging.getLogger(__name__)


def run_logged(argv: list[str], what: str, timeout: float, env: Mapping[str, str] | None = None) -> bool:
    """True when `argv` exited 0; otherwise the reason (stderr's tail) is logged under `what`."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    except (OSError, subprocess.TimeoutExpired) as e:
        log.error("%s: %s", what, e)
        return False
    if done.returncode != 0:
        log.error("%s exited %d: %s", what, done.returncode, done.stderr.strip()[-300:])
        return False
    return True


def run_checked(argv: list[str], what: str, timeout: float, input: str | None = None,
                env: Mapping[str, str] | None = None) -> str:
    """argv's stdout; CommandError naming `what` with stderr's tail on failure, a timeout or a missing program."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input,
                              env=env, errors="replace")
    except FileNotFoundError:
        raise CommandError(f"{what}: {argv[0]} not found") from None
    except subprocess.TimeoutExpired:
        raise CommandError(f"{what}: no exit within {timeout:.0f}s") from None
    except OSError as e:
        raise CommandError(f"{what}: {e}") from None
    if done.returncode != 0:
        tail = (done.stderr.strip() or done.stdout.strip())[-400:]
        raise CommandError(f"{what} failed (exit {done.returncode}): {tail}")
    return done.stdout
