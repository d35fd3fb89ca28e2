"""Issue 20, item 2: stop requests that must neither deadlock nor wait (boot manager, respawner, wait_ready).

The deadlocks are races in production; here each scenario forces the losing interleaving (the main
thread holds the lock the old handler needed when the signal arrives) in a child process, so the old
code hangs and the test sees its deadline pass instead of hanging itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(code: str, timeout: float = 20.0) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"deadlocked (no exit within {timeout:.0f}s): {e.stdout!r} {e.stderr!r}") from None


def test_boot_manager_stop_handler_does_not_deadlock_inside_event_wait():
    """supervisor.install_stop_handler called Event.set() in the handler: while the main thread held the
    Event's lock (inside stop.wait()), SIGTERM deadlocked the boot manager and PID 1 had to SIGKILL it."""
    r = _run('''
        import os, signal, threading, time
        from rancheros.manager.supervisor import install_stop_handler
        stop = threading.Event()
        install_stop_handler(stop)
        with stop._cond:                       # where stop.wait() is when the signal lands
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.3)                    # the handler runs here, on this thread
        print("set" if stop.wait(5) else "not set")
    ''')
    assert r.returncode == 0 and r.stdout.strip() == "set", r.stderr


def test_respawner_signal_handler_does_not_block_or_deadlock(tmp_path):
    """Respawner.stop() ran inside the signal handler: it waited for the children there, and when the
    signal landed while the main thread was in proc.poll() (holding Popen's waitpid lock) its
    wait() blocked for ever."""
    r = _run(f'''
        import os, signal
        from rancheros.system.respawn import Respawner
        r = None
        def tick():
            proc = r.procs["helper"]
            with proc._waitpid_lock:            # where proc.poll() is when the signal lands
                os.kill(os.getpid(), signal.SIGTERM)
                for _ in range(30):
                    pass
        r = Respawner({{"main": ["sleep", "60"], "helper": ["sh", "-c", "trap '' TERM; exec sleep 60"]}},
                      primary="main", tick=tick, tick_every=0.2)
        rc = r.run()
        print("stopped", rc, [p.poll() is not None for p in r.procs.values()])
    ''', timeout=25)
    assert r.returncode == 0 and r.stdout.startswith("stopped 0 [True, True]"), (r.stdout, r.stderr)


def _never_ready(tmp_path: Path, listen: bool) -> str:
    """A 'dockerd' that never answers: no socket at all, or one that accepts and stays silent."""
    fake = tmp_path / "dockerd"
    body = "import socket, sys, time\n"
    if listen:
        body += ("path = sys.argv[sys.argv.index('--host') + 1][len('unix://'):]\n"
                 "s = socket.socket(socket.AF_UNIX); s.bind(path); s.listen(64)\n"
                 "conns = []\nwhile True:\n    conns.append(s.accept())\n")
    else:
        body += "time.sleep(3600)\n"
    fake.write_text(f"#!{sys.executable}\n{body}")
    fake.chmod(0o755)
    return str(fake)


def _doc(tmp_path: Path, dockerd: str) -> dict:
    return {"rancher": {"system_docker": {
        "socket": f"{tmp_path}/s.sock", "data_root": f"{tmp_path}/d", "exec_root": f"{tmp_path}/x",
        "pidfile": f"{tmp_path}/p", "log_file": f"{tmp_path}/log", "preload_dir": f"{tmp_path}/img",
        "dockerd": dockerd}}}


def test_a_stop_request_ends_the_boot_managers_wait_for_dockerd(tmp_path):
    """wait_ready waited up to 600 s whatever happened: a shutdown during it took PID 1's stop timeout
    (120 s) and then a SIGKILL, with services never stopped in order."""
    from rancheros.manager.supervisor import Supervisor

    doc = _doc(tmp_path, _never_ready(tmp_path, listen=False))
    sup = Supervisor(doc, reload=lambda: doc)
    t = threading.Thread(target=sup.run, daemon=True)
    t.start()
    time.sleep(1.0)
    t0 = time.monotonic()
    sup.stop.set()
    t.join(15)
    assert not t.is_alive(), "Supervisor.run still waiting for dockerd after the stop request"
    assert time.monotonic() - t0 < 10
    assert sup.daemon is not None and not sup.daemon.running()


def test_a_silent_socket_does_not_hide_the_stop_request(tmp_path):
    """A dockerd that accepts but does not answer held each ping for 60 s; probes are bounded now."""
    from rancheros.sysdocker.daemon import StopRequested, SystemDocker, SystemDockerConfig

    cfg = SystemDockerConfig(socket=f"{tmp_path}/s.sock", data_root=f"{tmp_path}/d", exec_root=f"{tmp_path}/x",
                             pidfile=f"{tmp_path}/p", log_file=f"{tmp_path}/log",
                             dockerd=_never_ready(tmp_path, listen=True))
    stop = threading.Event()
    daemon = SystemDocker(cfg, stop=stop)
    daemon.start()
    threading.Timer(1.0, stop.set).start()
    t0 = time.monotonic()
    try:
        try:
            daemon.wait_ready(timeout=600, ping_timeout=1)
        except StopRequested:
            pass
        else:
            raise AssertionError("wait_ready returned for a daemon that never answered")
        assert time.monotonic() - t0 < 6
    finally:
        daemon.stop(timeout=5)
