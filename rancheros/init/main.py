"""The `init` applet: PID 1 of RancherOS.

Early boot (mounts, modules, state disk, the new root, switch_root) runs in
PID 1 itself before anything else is spawned, because chroot only changes the
calling process. Then PID 1 forks the boot manager (rancheros.init.manager),
which starts system Docker and the services, and PID 1 settles into its loop
(rancheros.init.pid1). A fatal early error opens a recovery shell instead.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import Callable

from rancheros import log as boot_log
from rancheros.init.console import open_console
from rancheros.init.pid1 import Pid1, Pid1Config

log = logging.getLogger(__name__)


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="init", add_help=False)
    p.add_argument("--test-manager", metavar="MODULE:FUNC",
                   help="testing: skip early boot and run FUNC as the boot manager, no unmounting")
    p.add_argument("--console", metavar="PATH", help="where boot lines go (default /dev/console)")
    p.add_argument("--stop-timeout", type=float, default=None, help="testing: manager stop timeout")
    p.add_argument("--kill-grace", type=float, default=None, help="testing: SIGTERM to SIGKILL delay")
    # The kernel hands init any cmdline word it does not know; those are not ours to reject.
    args, _unknown = p.parse_known_args(argv)
    return args


def _load(spec: str) -> Callable[[], int | None]:
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr or "main")


def main(argv: list[str]) -> int:
    """Run as PID 1 (or, with --test-manager, as the init of a test's PID namespace). Never returns as PID 1."""
    args = _parse(argv)
    if args.test_manager:
        boot_log.setup(open_console(args.console or "/dev/stderr"))
        log.info("init started (test mode, pid %d)", os.getpid())
        cfg = Pid1Config(manager=_load(args.test_manager), unmount=False)
        if args.stop_timeout is not None:
            cfg.stop_timeout = args.stop_timeout
        if args.kill_grace is not None:
            cfg.kill_grace = args.kill_grace
        Pid1(cfg).run()
    if os.getpid() != 1:
        print("init: must run as PID 1 (the kernel starts it); use `ros` for everything else", file=sys.stderr)
        return 1
    from rancheros.init.boot import boot_pid1
    boot_pid1(args.console)
    return 0  # not reached: boot_pid1 never returns
