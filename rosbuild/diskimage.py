"""rancheros.raw and rancheros.qcow2: the installer (rancheros/install/installer.py) run onto an image file.

The state partition is small and blank; it grows to the disk at first boot (rancheros/init/grow.py),
so the same image serves any disk size (`qemu-img resize` the qcow2, or write the raw to a bigger disk).
"""

from __future__ import annotations

import os
from pathlib import Path

from rancheros.install import installer, layout
from rosbuild import steps

RAW_NAME, QCOW2_NAME = "rancheros.raw", "rancheros.qcow2"
STATE_MIB = 64


def write_raw(image: Path, sha256: str, raw: Path, cloud_config: str | None = None) -> bool:
    """Install onto the raw file `raw` (atomically); False (with one line) where this machine cannot (needs root)."""
    if os.geteuid() != 0:
        steps.warn(f"{raw.name} skipped: writing a disk image needs root (loop devices)")
        return False
    tmp = raw.with_name(raw.name + ".tmp")
    if tmp.exists():
        tmp.unlink()
    with open(tmp, "wb") as f:
        f.truncate(layout.min_disk_bytes(STATE_MIB))
    try:
        installer.install(installer.Request(str(tmp), str(image), sha256, cloud_config=cloud_config,
                                            state_mib=STATE_MIB, reproducible=True, force=True),
                          lambda m: steps.say(m))
    except BaseException:   # the product's InstallError names the device (this .tmp file) and the step
        tmp.unlink()
        raise
    os.replace(tmp, raw)
    return True


def build(image: Path, sha256: str, raw: Path, qcow2: Path) -> bool:
    """Write both disk images; False where this machine cannot."""
    if not write_raw(image, sha256, raw):
        return False
    qtmp = qcow2.with_name(qcow2.name + ".tmp")
    steps.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", raw, qtmp])
    os.replace(qtmp, qcow2)
    return True
