#!/usr/bin/env python3
"""Boot three systems side by side in QEMU (TCG, same memory, CPUs and kernel)
and print one table of milestones: the floor, ours, and a general-purpose Linux.

    .venv/bin/python bench/compare_boot.py [--runs 3] [--memory 1024] [--only NAME ...]

floor: a busybox /init that starts dockerd and runs one container, from RAM. ours: the kernel and
the small initrd, which find the OS image on a medium (the ISO as a CD: the same path as a disk
slot) and boot it in place, with a state disk booted once before (formatting and host keys
done), as an operator runs it; ours-live: the same with no disk (memory mode, every boot a first
boot, as the ISO's first boot without its boot menu). general-purpose: Debian 12 with systemd, docker.io and openssh-server on a disk image,
also booted once before. Each timed boot of an installed system gets a fresh copy of its disk.

Milestones are timed on the host from QEMU's start to the first serial line
that announces them (SSH: to the first `SSH-` banner on the forwarded port).
Also writes bench/results/compare_boot.md and compare_boot.png; each boot's serial log
is kept in the build cache (bench/serial/) to profile from.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import boot_profile  # noqa: E402
import floor  # noqa: E402
import gp_linux  # noqa: E402
from rosbuild import cli as build_cli, iso, qemu  # noqa: E402
from rosbuild.qemu import free_port, wait_ssh_banner  # noqa: E402
from rosbuild.steps import DIST, Stamp, cache_dir, hash_data  # noqa: E402

MILESTONES = ["init started", "docker answering", "container ran", "ssh accepting"]
RESULTS = ROOT / "bench" / "results"


@dataclass
class System:
    """How to boot one system and how its serial console announces each milestone."""

    name: str
    vm_args: dict
    patterns: dict[str, str]
    has_ssh: bool
    size_bytes: int
    memory_pattern: str = r"BENCH mem-used-kb (\d+)"
    login: list[str] | None = None   # ssh argv up to the user@host: memory (if not on serial), power-off
    extra: dict[str, str] = field(default_factory=dict)  # milestones of this system alone (footnotes)
    # Installed systems boot from disk: `disk` (None: a blank one) is booted once and powered off (the
    # install's first boot: formatting, image loading, host keys), then every timed boot gets a copy of it.
    installed: bool = False
    disk: Path | None = None
    poweroff: str = "sudo poweroff"


@dataclass
class Run:
    times: dict[str, float] = field(default_factory=dict)
    mem_kb: int | None = None
    error: str = ""


def _copy_disk(src: Path, dest: Path) -> Path:
    subprocess.run(["cp", "--sparse=always", str(src), str(dest)], check=True)
    return dest


def installed_disk(system: System, memory: int, timeout: float) -> Path:
    """The system's disk after its first boot and an orderly power-off (cached until its inputs change)."""
    warm = cache_dir() / "bench" / f"installed-{system.name}.img"
    inputs = [system.vm_args.get("initrd"), system.disk]
    stamp = Stamp(f"bench-installed-{system.name}", hash_data(
        [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in inputs if p], system.vm_args.get("append")))
    if stamp.fresh(warm):
        return warm
    warm.unlink(missing_ok=True)
    if system.disk:
        _copy_disk(system.disk, warm)
    else:
        qemu.create_disk(warm, "4G")
    run = boot_once(system, memory, timeout, cache_dir() / "bench" / "serial" / f"{system.name}-install.log",
                    disk=warm, then=system.poweroff)
    if run.error:
        sys.exit(f"compare_boot: the first boot of {system.name} failed: {run.error}")
    stamp.done()
    return warm


def boot_once(system: System, memory: int, timeout: float, log_path: Path | None = None,
              disk: Path | None = None, then: str | None = None) -> Run:
    """One boot (on `disk`): wait for every milestone (or the timeout); then run `then` over SSH and
    wait for the VM to stop, or kill it. Keeps the serial log."""
    run = Run()
    port = free_port() if system.has_ssh else None
    with tempfile.TemporaryDirectory(prefix="bench-") as work:
        disks = [disk] if disk else []
        vm = qemu.VM(memory=memory, ssh_port=port, workdir=Path(work), disks=disks, **system.vm_args)
        t0 = time.monotonic()
        vm.start()
        stop_ssh = threading.Event()
        # the SSH probe blocks up to seconds per try: in its own thread, so serial milestones keep their times
        pool = ThreadPoolExecutor(1)
        try:
            want = {**system.patterns, **system.extra}
            if system.has_ssh:
                want["ssh accepting"] = ""
                ssh_at = pool.submit(wait_ssh_banner, port, t0 + timeout, stop_ssh)
            while want and time.monotonic() - t0 < timeout and vm.running:
                text = vm.serial_text()
                now = time.monotonic() - t0
                for name, pattern in list(want.items()):
                    if name == "ssh accepting":
                        if ssh_at.done() and ssh_at.result() is not None:
                            run.times[name] = ssh_at.result() - t0
                            del want[name]
                    elif re.search(pattern, text):
                        run.times[name] = now
                        del want[name]
                time.sleep(0.1)
            if want:
                run.error = f"missing {', '.join(want)}" + (f"; serial log in {log_path}" if log_path else "")
            deadline = time.monotonic() + 30
            while run.mem_kb is None and time.monotonic() < deadline:
                m = re.search(system.memory_pattern, vm.serial_text())
                if m:
                    run.mem_kb = int(m.group(1))
                elif system.login and port:
                    out = subprocess.run(system.login + ["-p", str(port), "awk '/MemTotal/{t=$2}/MemAvailable/{a=$2}END{print \"BENCH mem-used-kb\", t-a}' /proc/meminfo"],
                                         capture_output=True, text=True, timeout=30).stdout
                    m = re.search(system.memory_pattern, out)
                    run.mem_kb = int(m.group(1)) if m else None
                    if run.mem_kb is None:
                        time.sleep(2)
                else:
                    time.sleep(0.5)
            if then and system.login and port:
                subprocess.run(system.login + ["-p", str(port), then], capture_output=True, timeout=60)
                deadline = time.monotonic() + 180
                while vm.running and time.monotonic() < deadline:
                    time.sleep(1)
        finally:
            stop_ssh.set()
            pool.shutdown(wait=False)
            if log_path is not None:
                log_path.parent.mkdir(parents=True, exist_ok=True)
                log_path.write_text(vm.serial_text())
            vm.kill()
            vm.cleanup()
    return run


def systems(args) -> list[System]:
    kernel = DIST / "vmlinuz"
    ours_initrd, ours_iso = DIST / "initrd-small", DIST / "rancheros.iso"
    if not kernel.exists() or not ours_initrd.exists() or not ours_iso.exists():
        sys.exit("compare_boot: build first (./build.py build): dist/artifacts/vmlinuz, initrd-small or the ISO "
                 "is missing")
    kernel_tree = next((t for t in (cache_dir() / "extract").glob("linux-image-*")
                        if (t / "lib/modules").is_dir()), None)
    if kernel_tree is None:
        sys.exit("compare_boot: the extracted kernel package is not in the build cache; run ./build.py build")
    kver = next((kernel_tree / "lib/modules").iterdir()).name
    key = cache_dir() / "bench" / "id_ed25519"
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    pub = key.with_suffix(".pub").read_text().strip()
    rootfs = floor.busybox_rootfs_tar(cache_dir() / "bench" / "rootfs.tar")
    floor_initrd = floor.build(kernel_tree)
    kernel_deb = next((cache_dir() / "debs").glob(f"linux-image-{kver}_*.deb"))
    gp_image, gp_initrd = gp_linux.build(kernel_deb, rootfs, pub)
    ssh = ["ssh", "-q", "-i", str(key), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
           "-o", "ConnectTimeout=10", "-o", "BatchMode=yes"]
    base = "panic=10 console=tty0 console=ttyS0"  # as ours (kernel kept as chatty as ours)
    ours_append = iso.entries(build_cli.kernel_recipe()["cmdline"])[0].cmdline  # the ISO's live entry
    userdata = _ours_userdata(pub)
    ours_vm = {"kernel": kernel, "initrd": ours_initrd, "iso": ours_iso,
               "append": f"{ours_append} rancher.cloud_init.user_data={userdata}"}
    ours_patterns = {"init started": r"rancheros: init started", "docker answering": r"rancheros: system-docker ready",
                     "container ran": r"rancheros: service \S+: (started|ran to completion)"}
    ours_extra = {"all services up": r"rancheros: services up"}
    ours_size = ours_iso.stat().st_size if ours_iso.exists() else 0
    return [
        System("floor", {"kernel": kernel, "initrd": floor_initrd, "append": base},
               {"init started": r"BENCH init", "docker answering": r"BENCH docker-ready",
                "container ran": r"BENCH container-ran"}, False, floor_initrd.stat().st_size),
        System("ours", ours_vm, ours_patterns, True, ours_size, extra=ours_extra, login=ssh + ["rancher@127.0.0.1"],
               installed=True),
        System("ours-live", ours_vm, ours_patterns, True, ours_size, extra=ours_extra,
               login=ssh + ["rancher@127.0.0.1"]),
        System("general-purpose", {"kernel": kernel, "initrd": gp_initrd,
                                   "append": f"{base} root=/dev/vda rw systemd.show_status=1"},
               {"init started": r"Welcome to|systemd\[1\]", "docker answering": r"BENCH docker-ready",
                "container ran": r"BENCH container-ran"}, True,
               _allocated(gp_image) + gp_initrd.stat().st_size, login=ssh + ["root@127.0.0.1"],
               installed=True, disk=gp_image, poweroff="poweroff"),
    ]


def _allocated(path: Path) -> int:
    return path.stat().st_blocks * 512


def _ours_userdata(pub: str) -> str:
    import base64
    return base64.b64encode(f"#cloud-config\nssh_authorized_keys:\n  - {pub}\n".encode()).decode()


def _values(runs: list[Run], milestone: str) -> list[float]:
    return [r.times[milestone] for r in runs if milestone in r.times]


def _cell(runs: list[Run], milestone: str) -> str:
    vals = _values(runs, milestone)
    return f"{statistics.median(vals):.1f} ({min(vals):.1f}-{max(vals):.1f})" if vals else "n/a"


def table(results: dict[str, list[Run]], sizes: dict[str, int], extras: dict[str, dict[str, str]]) -> str:
    """Markdown: median (min-max) seconds per milestone, memory and size per system; extras as notes."""
    head = "| system | " + " | ".join(f"{m} (s)" for m in MILESTONES) + " | memory used (MB) | image (MB) |"
    lines = [head, "|" + "---|" * (len(MILESTONES) + 3)]
    for name, runs in results.items():
        cells = [_cell(runs, m) for m in MILESTONES]
        mems = [r.mem_kb / 1024 for r in runs if r.mem_kb]
        cells.append(f"{statistics.median(mems):.0f}" if mems else "n/a")
        cells.append(f"{sizes[name] / 1e6:.0f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    notes = [f"* {name}, {m}: {_cell(results[name], m)} s" for name, ex in extras.items() if name in results
             for m in ex]
    return "\n".join(lines + ([""] + notes if notes else []))


def chart(results: dict[str, list[Run]], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / max(1, len(results))
    for i, (name, runs) in enumerate(results.items()):
        meds = [statistics.median(v) if (v := _values(runs, m)) else 0 for m in MILESTONES]
        ax.bar([x + i * width for x in range(len(MILESTONES))], meds, width, label=name)
    ax.set_xticks([x + width * (len(results) - 1) / 2 for x in range(len(MILESTONES))], MILESTONES)
    ax.set_ylabel("seconds from QEMU start (median, TCG)")
    ax.set_title("Boot milestones: floor vs ours vs general-purpose Linux")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--memory", type=int, default=1024)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--only", action="append", help="boot only these systems")
    args = parser.parse_args()
    results: dict[str, list[Run]] = {}
    sizes, extras, logs = {}, {}, {}
    for system in systems(args):
        if args.only and system.name not in args.only:
            continue
        sizes[system.name], extras[system.name] = system.size_bytes, system.extra
        results[system.name], logs[system.name] = [], []
        installed = installed_disk(system, args.memory, args.timeout) if system.installed else None
        for i in range(args.runs):
            logs[system.name].append(cache_dir() / "bench" / "serial" / f"{system.name}-{i + 1}.log")
            with tempfile.TemporaryDirectory(prefix="bench-disk-", dir=cache_dir() / "bench") as tmp:
                disk = _copy_disk(installed, Path(tmp) / "disk.img") if installed else None
                run = boot_once(system, args.memory, args.timeout, logs[system.name][-1], disk=disk)
            results[system.name].append(run)
            print(f"{system.name} run {i + 1}: " + ", ".join(f"{k} {v:.1f}s" for k, v in run.times.items())
                  + (f", memory {run.mem_kb // 1024} MB" if run.mem_kb else "") + (f" ({run.error})" if run.error else ""),
                  flush=True)
    text = table(results, sizes, extras)
    for name in (n for n in logs if n.startswith("ours")):
        ours_logs = [p.read_text(errors="replace") for p in logs[name] if p.exists()]
        if ours_logs:
            text += f"\n\n## Where the boot of {name} goes\n\n" + boot_profile.markdown(
                boot_profile.median_profile(ours_logs), len(ours_logs))
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    accel = qemu.probe_accel()
    (RESULTS / "compare_boot.md").write_text(
        f"# Boot comparison ({args.runs} runs each, -m {args.memory}, 1 vCPU, accel {accel})\n\n{text}\n")
    chart(results, RESULTS / "compare_boot.png")
    print(f"wrote {RESULTS / 'compare_boot.md'} and {RESULTS / 'compare_boot.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
