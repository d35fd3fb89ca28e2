"""Scenarios run as the init of a fresh PID namespace by test_hardening_pid1.py (argv[1] names one)."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import signal
import sys
import time
import types

N_ZOMBIES = 1200   # dead children handed to PID 1 in one go
N_SLEEPERS = 1000  # live orphans PID 1 must end at shutdown


def manager() -> int:
    """A boot manager that says it runs and waits for PID 1's SIGTERM (default action: it dies)."""
    logging.getLogger("rancheros.test").info("manager started")
    while True:
        signal.pause()


def hung_manager() -> int:
    """A boot manager whose orderly stop hangs: on SIGTERM it says so and never returns."""
    log = logging.getLogger("rancheros.test")

    def stop(signum, frame):
        log.info("stopping services (hanging)")
        while True:
            time.sleep(3600)
    signal.signal(signal.SIGTERM, stop)
    log.info("manager started")
    while True:
        signal.pause()


def _spawner(body) -> None:
    """Run `body` in a child of this process and wait for it: what it leaves behind is PID 1's."""
    pid = os.fork()
    if pid == 0:
        try:
            body()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def zombie_manager() -> int:
    """N_ZOMBIES dead children passed to PID 1 at once (their parent exits), then N_SLEEPERS live orphans."""
    log = logging.getLogger("rancheros.test")
    log.info("manager started")

    def zombies() -> None:
        for _ in range(N_ZOMBIES):
            if os.fork() == 0:
                os._exit(0)  # a zombie of this process until it exits
        log.info("%d zombies made", N_ZOMBIES)
        while not os.path.exists(os.environ["RELEASE"]):
            time.sleep(0.02)
    _spawner(zombies)
    log.info("zombies passed to PID 1")

    sleep = shutil.which("sleep") or "/bin/sleep"
    _spawner(lambda: [os.posix_spawn(sleep, ["sleep", "600"], {}) for _ in range(N_SLEEPERS)])
    log.info("%d sleepers orphaned", N_SLEEPERS)
    while True:
        signal.pause()


def recovery_manager() -> int:
    """The real recovery shell, on the pty the test gives (never the host's /dev/console)."""
    from rancheros.init import recovery
    return recovery.shell(os.environ["PTY"])


def _stub(log_line: str):
    """A step that would change the machine (the OS image, the modules, mounts): one log line instead."""
    def step(*args, **kwargs) -> None:
        logging.getLogger("rancheros.test").info("%s", log_line)
    return step


def _boot_with_the_real_state_step() -> None:
    """The production boot (boot_pid1, early_boot, state.setup, Pid1), minus what would touch the host.

    Kept real: the config (defaults and the cmdline file), the state step, the recovery shell's panic=N
    and the PID 1 loop. Stubbed: the early mounts, the OS image and root switch, module loading, the
    memory-state tmpfs and bind mounts, unmounting at shutdown (the namespace shares the host's file
    systems), and the boot manager (hardening_init:manager instead of system Docker).
    """
    import functools

    from rancheros.init import boot, modules, mounts, pid1, root, shutdown
    from rancheros.manager import main as boot_manager
    mounts.early = lambda: []
    boot.into_os_image = _stub("stub: into the OS image")
    boot.ensure_layout = _stub("stub: root layout")
    modules.load = _stub("stub: modules")
    root.STATE_DIR = os.environ["STATE_DIR"]
    root.mount_memory_state = _stub("stub: memory state mounted")
    root.bind_persistent = _stub("stub: persistent paths bound")
    boot_manager.run = manager
    boot.Pid1Config = functools.partial(pid1.Pid1Config, unmount=False)
    shutdown.unmount_all = _stub("stub: no unmounting")


def _mount_tmpfs(target: str) -> None:
    """A tmpfs in this namespace's private mount namespace (unshare --mount-proc): the host never sees it."""
    from rancheros.system import libc
    os.makedirs(target, exist_ok=True)
    libc.mount("tmpfs", target, "tmpfs", 0, "size=1m")


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
    elif scenario == "zombies":
        init_main.main(["--test-manager", "hardening_init:zombie_manager", "--console", console,
                        "--kill-grace", "1"])
    elif scenario == "hung-manager":
        init_main.main(["--test-manager", "hardening_init:hung_manager", "--console", console,
                        "--stop-timeout", "1", "--kill-grace", "1"])
    elif scenario == "reboot-refused":  # the test runs this one without CAP_SYS_BOOT
        init_main.main(["--test-manager", "hardening_init:manager", "--console", console, "--kill-grace", "1"])
    elif scenario == "state":
        _boot_with_the_real_state_step()
        init_main.main(["--console", console])
    elif scenario == "busy-mount":
        _mount_tmpfs(os.environ["BUSY_MOUNT"])
        _mount_tmpfs(os.environ["FREE_MOUNT"])
        init_main.main(["--test-manager", "hardening_init:manager", "--console", console, "--kill-grace", "1",
                        "--unmount-under", os.environ["UNMOUNT_UNDER"]])
    raise SystemExit(f"init's main returned in scenario {scenario}")


if __name__ == "__main__":
    main()
