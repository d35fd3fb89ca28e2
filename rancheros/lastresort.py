"""PID 1's floor when everything above it failed: reap for ever, never raise, never exit.

Standard library only, so that it works when the rest of the product cannot even be imported.
"""

from __future__ import annotations

import os
import time
from typing import Callable, NoReturn


def pause(seconds: float = 1.0) -> None:
    """Sleep; not even a signal's exception gets out."""
    try:
        time.sleep(seconds)
    except BaseException:
        pass


def _spawn_shell(shell: str) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            os.execv(shell, [os.path.basename(shell), "-i"])
        finally:
            os._exit(127)
    return pid


def reap_forever(shell: str | None = None, reboot_at: float | None = None,
                 reboot: Callable[[], object] | None = None) -> NoReturn:
    """Reap every child once a second; keep `shell` running on the console; at monotonic `reboot_at`, sync and `reboot`."""
    child = None
    while True:
        try:
            if shell and child is None and os.path.exists(shell):
                child = _spawn_shell(shell)
            while True:
                try:
                    pid, _status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
                if pid == child:
                    child = None
            if reboot and reboot_at is not None and time.monotonic() >= reboot_at:
                reboot_at = None
                os.sync()
                reboot()
            time.sleep(1)
        except BaseException:
            pause()
