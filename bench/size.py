#!/usr/bin/env python3
"""Sizes of what the build produces and what takes the space, and the initrd compressors compared.

    .venv/bin/python bench/size.py                 # sizes (builds first if needed)
    .venv/bin/python bench/size.py --compressors   # + each compressor: size, compress/decompress time
    .venv/bin/python bench/size.py --boot          # + kernel unpack time in QEMU per compressor

The OS image is squashfs: each part's share of it is its size compressed alone with the image's
compressor (zstd -19), which is what it costs in the image to within a few percent.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rosbuild import cli, initramfs, qemu, steps  # noqa: E402

ENGINE = ["usr/sbin/dockerd", "usr/bin/containerd", "usr/bin/docker", "usr/bin/containerd-shim-runc-v2",
          "usr/sbin/runc", "usr/sbin/docker-proxy", "usr/bin/tini-static"]
UNPACK = re.compile(r"\[\s*([\d.]+)\] Trying to unpack rootfs.*?\[\s*([\d.]+)\] Freeing initrd memory", re.S)


def mb(n: float) -> str:
    return f"{n / 1e6:8.1f} MB"


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def zstd_size(paths: list[Path]) -> int:
    """Bytes of the files compressed by zstd -19 (the image's compressor), as one stream."""
    data = b"".join(p.read_bytes() for p in paths if p.is_file() and not p.is_symlink())
    return len(subprocess.run(["zstd", "-19", "-T0", "-q", "--stdout"], input=data, capture_output=True,
                              check=True).stdout)


def files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def sizes(art: cli.Artifacts) -> None:
    m = json.loads(art.manifest.read_text())
    stage = steps.cache_dir() / "os-root-stage"
    print("== artefacts")
    print(f"ISO                      {mb(art.iso.stat().st_size)}   (vmlinuz + small initrd + OS image)")
    print(f"OS image (squashfs)      {mb(art.image.stat().st_size)}")
    print(f"small initrd ({m['compression']:4})      {mb(m['sizes']['initrd_small'])}   "
          f"({mb(m['initrd_uncompressed']).strip()} unpacked)")
    print(f"initrd (kernel+initrd)   {mb(art.initrd.stat().st_size)}   (small initrd + OS image)")
    print(f"vmlinuz                  {mb(art.vmlinuz.stat().st_size)}")
    print("== what takes the OS image's space: unpacked -> compressed (zstd -19)")
    parts = [("frozen binary (onedir)", files(stage / "usr/lib/rancheros"))]
    parts += [(Path(rel).name, [stage / rel]) for rel in ENGINE]
    parts += [("kernel modules", files(stage / "usr/lib/modules")),
              ("shared libraries", files(stage / "usr/lib/x86_64-linux-gnu")),
              ("system images (unpacked layers)", files(stage / "usr/share/rancheros/store"))]
    for name, paths in parts:
        raw = sum(p.stat().st_size for p in paths if p.is_file() and not p.is_symlink())
        print(f"{name:32} {mb(raw)} -> {mb(zstd_size(paths))}")
    print("== images (all layers, uncompressed; os-base's layer is shared)")
    for key, value in sorted(m["sizes"].items()):
        if key.startswith("image:"):
            print(f"{key[6:]:32} {mb(value)}")


def frozen_start(runs: int = 10) -> None:
    ros = steps.cache_dir() / "freeze" / "dist" / "ros" / "ros"
    with tempfile.TemporaryDirectory() as conf:
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            subprocess.run([str(ros), "--config-dir", conf, "config", "get", "rancher.hostname"],
                           capture_output=True)
            times.append(time.perf_counter() - t)
    print(f"== `ros config get` (frozen, host): median {statistics.median(times) * 1000:.0f} ms over {runs} runs")


def compressors(boot: bool) -> None:
    raw = steps.cache_dir() / "initrd.cpio"
    print(f"== compressors on the {mb(raw.stat().st_size).strip()} small initrd's cpio")
    with tempfile.TemporaryDirectory() as tmp:
        for name, cmd in initramfs.COMPRESSORS.items():
            out = Path(tmp) / f"initrd.{name}"
            t = time.perf_counter()
            with open(raw, "rb") as src, open(out, "wb") as dst:
                subprocess.run(cmd, stdin=src, stdout=dst, check=True)
            ct = time.perf_counter() - t
            t = time.perf_counter()
            with open(out, "rb") as src:
                subprocess.run([cmd[0], "-d", "--stdout"] + (["--long=31"] if name == "zstd" else []),
                               stdin=src, stdout=subprocess.DEVNULL, check=True)
            dt = time.perf_counter() - t
            line = f"{' '.join(cmd[:-1]):44} {mb(out.stat().st_size)}  compress {ct:6.1f}s  host decompress {dt:5.2f}s"
            if boot:
                line += f"  kernel unpack (QEMU) {unpack_time(out):5.1f}s"
            print(line, flush=True)


def unpack_time(initrd: Path) -> float:
    """Seconds between the kernel's 'Trying to unpack rootfs' and 'Freeing initrd memory'."""
    vm = qemu.VM(kernel=steps.DIST / "vmlinuz", initrd=initrd, append="console=ttyS0 rancher.debug=true")
    with vm:
        vm.wait_for(r"Freeing initrd memory", timeout=900)
        m = UNPACK.search(vm.serial_text())
    return float(m.group(2)) - float(m.group(1))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--compressors", action="store_true")
    p.add_argument("--boot", action="store_true", help="also boot each initrd in QEMU (implies --compressors)")
    a = p.parse_args()
    art = cli.build()
    print(f"== qemu accelerator: {qemu.probe_accel()}")
    sizes(art)
    frozen_start()
    if a.compressors or a.boot:
        compressors(a.boot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
