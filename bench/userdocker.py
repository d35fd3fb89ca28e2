#!/usr/bin/env python3
"""User Docker figures under QEMU: boot -> user Docker ready, and `docker run --rm` latency in the VM.

Usage: bench/userdocker.py [--runs N] [--memory MiB]   (run ./build.py build first)
Boots dist/artifacts/vmlinuz+initrd (live command line, our SSH key through the cmdline datasource) on a
fresh blank disk, so the first figure includes autoformat and image load. "ready" is the first moment
`docker info` answers over SSH as the rancher user. Then it `docker load`s a busybox image and times
N `docker run --rm IMAGE true` inside the VM (measured in the guest with date +%s%N), printing each
and the median. A second boot on the same disk gives the warm figure.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from rosbuild.cli import Artifacts, kernel_recipe  # noqa: E402
from machine import Machine, busybox_archive, wait_until  # noqa: E402

ART = ROOT / "dist" / "artifacts"


def _artifacts() -> Artifacts:
    return Artifacts(ART / "rancheros.iso", ART / "vmlinuz", ART / "initrd", ART / "manifest.json",
                     kernel_recipe()["cmdline"], [])


def _boot_to_docker(m: Machine) -> tuple[float, float]:
    """Seconds from QEMU start to `services up` on the console and to `docker info` answering over SSH."""
    t0 = time.monotonic()
    m.start()
    up = time.monotonic() - t0
    wait_until(lambda: m.ssh.run("docker info --format '{{.ServerVersion}}'", check=False).rc == 0,
               600, "user docker answers", interval=1.0)
    return up, time.monotonic() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--memory", type=int, default=2048)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-userdocker-") as tmp:
        m = Machine(_artifacts(), Path(tmp) / "vm", guest_ports=(), memory=args.memory)
        try:
            up, ready = _boot_to_docker(m)
            print(f"first boot: services up {up:.1f}s, user docker ready {ready:.1f}s (QEMU start, TCG)")
            archive = busybox_archive(Path(tmp))
            m.ssh.run("docker load", stdin=archive.read_bytes())
            samples = []
            for _ in range(args.runs):
                ns = m.ssh.out("s=$(date +%s%N); docker run --rm e2e/busybox:1 true; e=$(date +%s%N); "
                               "echo $((e - s))")
                samples.append(int(ns) / 1e9)
                print(f"docker run --rm: {samples[-1]:.2f}s")
            print(f"docker run --rm median of {len(samples)}: {statistics.median(samples):.2f}s")
            up, ready = _boot_to_docker(m)
            print(f"second boot (same disk): services up {up:.1f}s, user docker ready {ready:.1f}s")
        finally:
            m.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
