"""Commands early boot runs (modprobe, blkid, mkfs), each with a deadline.

Early boot runs in PID 1 before anything else exists, so a command that hangs
(a disk that stopped answering, a module whose probe never returns) would hang
the boot. Each gets a timeout; when it expires the console says so in one line
and the boot goes on. A child that does not die even from SIGKILL (stuck in the
kernel) is left behind; PID 1's reaper collects it if it ever exits.
"""

from __future__ import annotations

import logging
import subprocess

log = logging.getLogger(__name__)

KILL_WAIT = 2.0  # seconds to wait for a killed command to go before leaving it behind


def run(argv: list[str], timeout: float, what: str | None = None) -> subprocess.CompletedProcess | None:
    """argv's CompletedProcess (text output), or None after one console line when it outlived `timeout` s.

    Raises OSError (FileNotFoundError...) when argv cannot be executed, as subprocess.run does.
    """
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, errors="replace")
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        log.warning("%s: no exit within %.0fs; killed, the boot goes on", what or argv[0], timeout)
        try:
            proc.communicate(timeout=KILL_WAIT)
        except subprocess.TimeoutExpired:  # in D state, or a grandchild holds its pipes: do not wait for it
            log.warning("%s (pid %d) did not go after SIGKILL; left behind", what or argv[0], proc.pid)
            for f in (proc.stdout, proc.stderr):
                try:
                    f.close()
                except OSError:
                    pass
        return None
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)
