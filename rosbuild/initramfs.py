"""The small initrd: the frozen init, busybox for a recovery shell, the drivers that find the medium.

It holds no OS: PID 1 finds the OS image (rancheros/init/osimage.py), checks it against the
checksum in front of it, mounts it and switches to it. The initrd is built first, without the
checksum, because the OS image carries it (installs and upgrades write slots from the image alone);
the build then puts the image's checksum in front (rancheros/install/initrd.py, as an install does).
The kernel+initrd variant (PXE, QEMU -kernel) also puts the image itself in front, as an
uncompressed cpio member the kernel keeps as one file.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from rosbuild.errors import BuildError
from rancheros import cpio
from rancheros.init.osimage import IMAGE_NAME
from rancheros.install import initrd as slot_initrd
from rosbuild import busybox, modules, rootfs, steps

DEVICES = [("dev/console", stat.S_IFCHR | 0o600, 5, 1), ("dev/null", stat.S_IFCHR | 0o666, 1, 3),
           ("dev/tty", stat.S_IFCHR | 0o666, 5, 0), ("dev/ttyS0", stat.S_IFCHR | 0o660, 4, 64),
           # The frozen Python seeds its hash from /dev/urandom before init can mount devtmpfs.
           ("dev/urandom", stat.S_IFCHR | 0o666, 1, 9), ("dev/random", stat.S_IFCHR | 0o666, 1, 8)]
COMPRESSORS = {
    "zstd": ["zstd", "-q", "-19", "-T0", "--stdout"],
    "xz": ["xz", "-q", "-6", "--check=crc32", "-T0", "--stdout"],
    "gzip": ["gzip", "-n", "-9", "--stdout"],
}


def assemble(stage: Path, pkgroot: Path, frozen: Path, kernel_tree: Path, module_names: list[str],
             os_release: str) -> dict:
    """Fill `stage` with the small initrd; returns facts for the manifest."""
    rootfs.merged_usr(stage)
    for d in ("dev", "proc", "sys", "run", "tmp", "etc", "usr/bin", "usr/sbin", "usr/share/rancheros"):
        (stage / d).mkdir(parents=True, exist_ok=True)
    rootfs.install_frozen(stage, frozen, pkgroot)
    (stage / "usr/bin/busybox").write_bytes((pkgroot / "usr/bin/busybox").read_bytes())
    (stage / "usr/bin/busybox").chmod(0o755)
    busybox.link_applets(stage, "usr/bin/busybox", ["init", "linuxrc", "reboot", "poweroff", "halt"])
    kver, unknown = modules.install(kernel_tree, module_names, stage)
    if unknown:
        steps.warn(f"initrd modules neither built in nor present in {kver}: {', '.join(unknown)}")
    (stage / "etc/os-release").write_text(os_release)
    (stage / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    return {"initrd_modules": len(list((stage / "usr/lib/modules" / kver).rglob("*.ko*")))}


def _compress(raw: Path, out: Path, compression: str) -> None:
    tmp = out.with_suffix(".tmp")
    with open(raw, "rb") as src, open(tmp, "wb") as dst:
        res = subprocess.run(COMPRESSORS[compression], stdin=src, stdout=dst, stderr=subprocess.PIPE)
    if res.returncode != 0:
        raise BuildError(f"{compression} failed: {res.stderr.decode(errors='replace')[-500:]}")
    os.replace(tmp, out)


def pack(stage: Path, out: Path, compression: str) -> tuple[int, int]:
    """Write the cpio archive and compress it; returns (uncompressed, compressed) sizes."""
    raw = steps.cache_dir() / "initrd.cpio"   # kept: bench/size.py measures the compressors on it
    with open(raw, "wb") as f:
        size = cpio.write_tree(stage, f, steps.SOURCE_DATE_EPOCH, DEVICES)
    _compress(raw, out, compression)
    return size, out.stat().st_size


def with_checksum(base: Path, image_sha256: str, out: Path) -> None:
    """The initrd that boots the image whose digest is `image_sha256` (the ISO's, and the small one)."""
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(slot_initrd.with_checksum(base.read_bytes(), image_sha256, steps.SOURCE_DATE_EPOCH))
    os.replace(tmp, out)


def with_image(small: Path, image: Path, out: Path) -> None:
    """The kernel+initrd variant: the image as an uncompressed cpio, then the small initrd.

    The kernel unpacks concatenated archives in turn; the image stays one file in its RAM root.
    """
    tmp = out.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        cpio.write_entry(f, 1, IMAGE_NAME, stat.S_IFREG | 0o444, image.read_bytes(), steps.SOURCE_DATE_EPOCH)
        cpio.write_entry(f, 0, "TRAILER!!!", 0)
        pad = -f.tell() % 512
        f.write(b"\0" * pad)
        f.write(small.read_bytes())
    os.replace(tmp, out)
