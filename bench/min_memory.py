#!/usr/bin/env python3
"""The smallest `-m` at which our image boots to SSH and runs a container, in 32 MB steps (TCG).

Usage: bench/min_memory.py [--low MB] [--high MB] [--timeout S] [--medium] [--live]
(run ./build.py build first). Each try boots dist/artifacts/vmlinuz+initrd (the ISO's live entry;
with --medium the small initrd, which finds the image on the ISO as a CD, as an installed system
finds it on its disk) on a fresh blank disk (--live: no disk, memory mode) and counts as a pass
when SSH with our key answers and `docker run --rm` of a busybox image prints its line.
A bisection between --low (assumed failing) and --high (checked first) finds the boundary.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from rosbuild.errors import VmError  # noqa: E402
from userdocker import _artifacts  # noqa: E402  (bench/userdocker.py: the built artefacts)
from machine import Machine, busybox_archive, wait_until  # noqa: E402

STEP = 32


def boots_and_runs(memory: int, timeout: float, medium: bool = False, live: bool = False) -> tuple[bool, str]:
    """One boot at `memory` MB: (passed, why) with the time it took or where it stopped."""
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-minmem-") as tmp:
        m = Machine(_artifacts(), Path(tmp) / "vm", guest_ports=(), memory=memory, boot_timeout=timeout,
                    medium=medium, state_disk=not live)
        try:
            m.start(extra_args=["-no-reboot"])  # a panic (e.g. the initramfs does not fit) ends the try
            wait_until(lambda: m.ssh.run("docker info", check=False).rc == 0, timeout, "user docker answers")
            m.ssh.run("docker load", stdin=busybox_archive(Path(tmp)).read_bytes())
            out = m.ssh.run("docker run --rm e2e/busybox:1 echo ran", check=False)
            if out.rc != 0 or out.stdout.strip() != "ran":
                return False, f"docker run failed: {out.stderr.strip()[-200:]}"
            return True, f"SSH and a container in {time.monotonic() - t0:.0f}s"
        except (VmError, AssertionError, OSError, subprocess.TimeoutExpired) as e:
            tail = m.vm.serial_text()[-300:].replace("\n", " | ") if m.vm else ""
            return False, f"{type(e).__name__}: {str(e).splitlines()[0][:120]} ... {tail}"
        finally:
            m.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--low", type=int, default=256, help="MB assumed too small")
    ap.add_argument("--high", type=int, default=1024, help="MB expected to pass (checked)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds a boot may take to SSH")
    ap.add_argument("--medium", action="store_true", help="the small initrd and the image on the ISO")
    ap.add_argument("--live", action="store_true", help="no disk: memory mode")
    args = ap.parse_args()
    low, high = args.low, args.high
    ok, why = boots_and_runs(high, args.timeout, args.medium, args.live)
    print(f"-m {high:5}: {'pass' if ok else 'FAIL'} ({why})", flush=True)
    if not ok:
        print(f"even {high} MB fails; raise --high")
        return 1
    while high - low > STEP:
        mid = low + ((high - low) // 2 // STEP) * STEP
        ok, why = boots_and_runs(mid, args.timeout, args.medium, args.live)
        print(f"-m {mid:5}: {'pass' if ok else 'FAIL'} ({why})", flush=True)
        low, high = (low, mid) if ok else (mid, high)
    print(f"smallest memory that boots to SSH and runs a container: {high} MB (32 MB steps)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
