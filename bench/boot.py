#!/usr/bin/env python3
"""Boot time of the built image under QEMU: QEMU start -> each init milestone, median of 3 boots.

Usage: bench/boot.py [--boots N] [--memory MiB] [--iso]   (run ./build.py build first)
Boots dist/artifacts/vmlinuz+initrd with the live command line (or the ISO with --iso) on a
fresh blank disk each time, so every boot includes the first-boot autoformat and image load.
Prints one line per milestone and PID 1's resident memory as init reports it.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rosbuild.qemu import VM, create_disk, free_port, wait_ssh_banner  # noqa: E402

ART = ROOT / "dist" / "artifacts"
MILESTONES = [
    ("kernel -> init", r"rancheros: init started"),
    ("state mounted", r"rancheros: state: "),
    ("system-docker ready", r"rancheros: system-docker ready"),
    ("images loaded", r"rancheros: images loaded"),
    ("services up", r"rancheros: services up"),
]
RSS = re.compile(r"resident memory: ([0-9.]+) MiB")


def one_boot(iso: bool, memory: int, timeout: float) -> tuple[dict[str, float], float | None]:
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="ros-bench-") as tmp:
        disk = create_disk(Path(tmp) / "state.img", "4G")
        port = free_port()
        kwargs = {"iso": ART / "rancheros.iso"} if iso else {
            "kernel": ART / "vmlinuz", "initrd": ART / "initrd",
            "append": _live_cmdline()}
        vm = VM(disks=[disk], memory=memory, ssh_port=port, **kwargs)
        t0 = time.monotonic()
        vm.start()
        try:
            for name, rx in MILESTONES:
                vm.wait_for(rx, timeout=timeout)
                times[name] = time.monotonic() - t0
            ssh = wait_ssh_banner(port, time.monotonic() + 120)
            if ssh is not None:
                times["ssh accepting"] = ssh - t0
            m = RSS.search(vm.serial_text())
            rss = float(m.group(1)) if m else None
        finally:
            vm.cleanup()
    return times, rss


def _live_cmdline() -> str:
    from rosbuild import iso
    import yaml
    kernel = yaml.safe_load((ROOT / "kernel" / "kernel.yml").read_text())
    return iso.entries(kernel.get("cmdline", ""))[0].cmdline


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--boots", type=int, default=3)
    p.add_argument("--memory", type=int, default=2048)
    p.add_argument("--iso", action="store_true", help="boot the ISO (adds the boot loader's menu delay)")
    p.add_argument("--timeout", type=float, default=600)
    args = p.parse_args()
    runs, rss = [], []
    for i in range(args.boots):
        times, r = one_boot(args.iso, args.memory, args.timeout)
        runs.append(times)
        if r is not None:
            rss.append(r)
        print(f"boot {i + 1}: " + ", ".join(f"{k} {v:.1f}s" for k, v in times.items()), flush=True)
    print(f"median over {len(runs)} boots (QEMU start -> milestone, {'ISO' if args.iso else 'kernel+initrd'}):")
    for name in [n for n, _ in MILESTONES] + ["ssh accepting"]:
        values = [r[name] for r in runs if name in r]
        if values:
            print(f"  {name:22s} {statistics.median(values):7.1f} s  (n={len(values)})")
        else:
            print(f"  {name:22s}     n/a")
    if rss:
        print(f"PID 1 resident memory after boot: {statistics.median(rss):.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
