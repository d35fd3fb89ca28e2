"""Scenarios run as the init of a fresh PID namespace by test_hardening_pid1.py (argv[1] names one)."""

from __future__ import annotations

import errno
import logging
import os
import signal
import sys
import types


def manager() -> int:
    """A boot manager that says it runs and waits for PID 1's SIGTERM (default action: it dies)."""
    logging.getLogger("rancheros.test").info("manager started")
    while True:
        signal.pause()


def recovery_manager() -> int:
    """The real recovery shell, on the pty the test gives (never the host's /dev/console)."""
    from rancheros.init import recovery
    return recovery.shell(os.environ["PTY"])


def main() -> None:
    scenario, console = sys.argv[1], sys.argv[2]
    from rancheros.init import main as init_main
    if scenario == "fork-fails-once":
        real_fork, calls = os.fork, []

        def fork():
            calls.append(1)
            if len(calls) == 1:
                raise OSError(errno.EAGAIN, "Resource temporarily unavailable (injected)")
            return real_fork()
        os.fork = fork
        init_main.main(["--test-manager", "hardening_init:manager", "--console", console, "--kill-grace", "1"])
    elif scenario == "boot-import-fails":
        sys.modules["rancheros.init.boot"] = None  # import raises ImportError, as a broken yaml/psutil would
        init_main.main(["--console", console])
    elif scenario == "boot-returns":
        fake = types.ModuleType("rancheros.init.boot")
        fake.boot_pid1 = lambda console_path=None: None
        sys.modules["rancheros.init.boot"] = fake
        init_main.main(["--console", console])
    elif scenario == "recovery":
        init_main.main(["--test-manager", "hardening_init:recovery_manager", "--console", console,
                        "--kill-grace", "1"])
    raise SystemExit(f"init's main returned in scenario {scenario}")


if __name__ == "__main__":
    main()
