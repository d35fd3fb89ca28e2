"""Run a helper program for a long-lived service: a failure is one log line, never an exception."""

from __future__ import annotations

import logging
import subprocess
from typing import Mapping

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
