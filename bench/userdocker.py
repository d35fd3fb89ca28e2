#!/usr/bin/env python3
"""User Docker figures under QEMU: boot -> user Docker ready, `docker run --rm` latency in the VM, and the
resident memory of each system service after boot.

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
                     kernel_recipe()["cmdline"], ART / "rancheros.img")


def _boot_to_docker(m: Machine) -> tuple[float, float]:
    """Seconds from QEMU start to `services up` on the console and to `docker info` answering over SSH."""
    t0 = time.monotonic()
    m.start()
    up = time.monotonic() - t0
    wait_until(lambda: m.ssh.run("docker info --format '{{.ServerVersion}}'", check=False).rc == 0,
               600, "user docker answers", interval=1.0)
    return up, time.monotonic() - t0


SERVICES = ("udev", "syslog", "acpid", "network", "ntp", "console", "docker")
# Sum of VmRSS over the processes whose cgroup names the service's container (the console, where this
# runs, sees every process through pid host, and its own cgroup as "/" through its cgroup namespace;
# shared pages are counted in each process).
RSS_SCRIPT = """for n in %s; do
  id=$(system-docker inspect -f '{{.Id}}' $n); kb=0
  for p in /proc/[0-9]*; do
    c=$(cat $p/cgroup 2>/dev/null)
    case "$c" in *"$id"*) ;; "0::/") [ $n = console ] || continue ;; *) continue ;; esac
    r=$(awk '/^VmRSS/{print $2}' $p/status 2>/dev/null); kb=$((kb + ${r:-0}))
  done
  echo "$n $kb"
done""" % " ".join(SERVICES)


def service_rss(m: Machine) -> dict[str, int]:
    """KiB of resident memory per system service, read in the guest."""
    out = m.ssh.run("sudo sh", stdin=RSS_SCRIPT.encode()).stdout
    return {name: int(kb) for name, kb in (line.split() for line in out.splitlines() if line.strip())}


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
            for name, kb in service_rss(m).items():
                print(f"resident memory of service {name:8} {kb / 1024:6.1f} MiB")
            archive = busybox_archive(Path(tmp))
            m.ssh.run("docker load", stdin=archive.read_bytes())
            samples = []
            for _ in range(args.runs):
                # busybox date has no %N: /proc/uptime's hundredths, read in the guest around the run
                secs = m.ssh.out("s=$(cut -d' ' -f1 /proc/uptime); docker run --rm e2e/busybox:1 echo ok "
                                 ">/dev/null; e=$(cut -d' ' -f1 /proc/uptime); awk \"BEGIN{print $e - $s}\"")
                samples.append(float(secs))
                print(f"docker run --rm: {samples[-1]:.2f}s")
            print(f"docker run --rm median of {len(samples)}: {statistics.median(samples):.2f}s")
            up, ready = _boot_to_docker(m)
            print(f"second boot (same disk): services up {up:.1f}s, user docker ready {ready:.1f}s")
        finally:
            m.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
