"""The state partition grows to its disk's end for real: a GPT image file made bigger, on a loop device.

A disk image's small RANCHER_STATE (16 MiB on a 64 MiB disk) is truncated to 256 MiB, attached, and
grown with the boot's own code while the disk's other partition is mounted; the ext4 then grows online
(offline where root lacks CAP_SYS_RESOURCE, as in some containers) and the file written before is still there.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess

import pytest

from rancheros.init import grow
from rancheros.init.state import StateSettings, setup

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for losetup, mknod and mount"),
    pytest.mark.skipif(not all(shutil.which(t) for t in ("sfdisk", "partx", "losetup", "mkfs.ext4", "resize2fs",
                                                         "dumpe2fs", "mount", "umount")),
                       reason="needs util-linux (sfdisk, partx, losetup, mount) and e2fsprogs"),
]

MiB = 1 << 20
CAP_SYS_RESOURCE = 24
TABLE = ("label: gpt\n"
         "start=2048, size=2048, type=21686148-6449-6E6F-744E-656564454649, name=BIOS\n"
         "start=4096, size=32768, name=RANCHER_STATE\n")


def _run(*argv: str, input: str | None = None) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True, input=input).stdout


def partition_nodes(loop: str) -> list[str]:
    """Make sure /dev/loopNpM exist for every partition of `loop`; return the nodes this call created.

    This host has no udev, and a kernel without the GPT parser makes no partitions at all: partx adds
    them (BLKPG), and nodes devtmpfs did not make are made from sysfs's major:minor.
    """
    name = os.path.basename(loop)
    sysdir = f"/sys/class/block/{name}"
    if not any(n.startswith(f"{name}p") for n in os.listdir(sysdir)):
        _run("partx", "-a", loop)
    made = []
    for part in sorted(n for n in os.listdir(sysdir) if n.startswith(f"{name}p")):
        node = f"/dev/{part}"
        if not os.path.exists(node):
            major, minor = (int(x) for x in open(f"{sysdir}/{part}/dev").read().split(":"))
            os.mknod(node, 0o600 | stat.S_IFBLK, os.makedev(major, minor))
            made.append(node)
    return made


@pytest.fixture
def disk(tmp_path):
    """A loop device over a 256 MiB file whose GPT was written for 64 MiB: (loop, state partition, boot partition)."""
    img = tmp_path / "disk.raw"
    with open(img, "wb") as f:
        f.truncate(64 * MiB)
    _run("sfdisk", "-q", str(img), input=TABLE)
    os.truncate(img, 256 * MiB)
    r = subprocess.run(["losetup", "-fP", "--show", str(img)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"losetup cannot attach a loop device here: {r.stderr.strip()}")
    loop = r.stdout.strip()
    made = []
    try:
        made = partition_nodes(loop)
        yield loop, f"{loop}p2", f"{loop}p1"
    finally:
        for m in (tmp_path / "boot", tmp_path / "state"):
            if os.path.ismount(m):
                subprocess.run(["umount", str(m)])
        subprocess.run(["losetup", "-d", loop])
        for node in made:
            os.unlink(node)


def _mount(device: str, where, *opts: str) -> None:
    where.mkdir(exist_ok=True)
    _run("mount", *opts, device, str(where))


def can_resize_online() -> bool:
    """ext4's online resize needs CAP_SYS_RESOURCE, which PID 1 has but a container's root may not."""
    caps = next(l for l in open("/proc/self/status") if l.startswith("CapEff:")).split()[1]
    return bool(int(caps, 16) >> CAP_SYS_RESOURCE & 1)


def _fs_bytes(device: str) -> int:
    fields = dict(l.split(":", 1) for l in _run("dumpe2fs", "-h", device).splitlines() if ":" in l)
    return int(fields["Block count"]) * int(fields["Block size"])


def test_state_partition_and_its_ext4_grow_to_the_disk_end(disk, tmp_path, caplog):
    loop, state, boot = disk
    _run("mkfs.ext4", "-q", "-L", "RANCHER_STATE", state)
    _run("mkfs.ext4", "-q", "-O", "^has_journal", boot)
    payload = os.urandom(3 * MiB)
    _mount(state, tmp_path / "state")
    (tmp_path / "state" / "before").write_bytes(payload)
    _run("umount", str(tmp_path / "state"))
    _mount(boot, tmp_path / "boot", "-o", "ro")   # as at boot: the medium's partition is in use

    caplog.set_level("INFO", logger="rancheros")
    assert grow.grow_partition(state) is True
    assert f"state: grew {state} from 16 MiB to 254 MiB" in caplog.text

    table = json.loads(_run("sfdisk", "-J", loop))["partitiontable"]
    end = table["partitions"][1]["start"] + table["partitions"][1]["size"]
    assert table["lastlba"] == 256 * MiB // 512 - 34, "the backup GPT moved to the disk's end"
    assert end == table["lastlba"] + 1, "the partition ends at the last usable sector"
    name = os.path.basename(state)
    assert int(open(f"/sys/class/block/{name}/size").read()) * 512 == (end - 4096) * 512, "the kernel knows"
    assert "backup" not in subprocess.run(["sfdisk", "-V", loop], capture_output=True, text=True).stderr
    assert _fs_bytes(state) == 16 * MiB

    if can_resize_online():
        _mount(state, tmp_path / "state")
        assert grow.grow_fs(state) is True
    else:   # the same command on the unmounted fs, which resize2fs wants checked first
        _run("e2fsck", "-f", "-p", state)
        assert grow.grow_fs(state) is True
        _mount(state, tmp_path / "state")
    dev_bytes = (end - 4096) * 512
    assert dev_bytes - 4096 < _fs_bytes(state) <= dev_bytes, "the ext4 fills its partition"
    assert (tmp_path / "state" / "before").read_bytes() == payload

    caplog.clear()
    assert grow.grow_partition(state) is False, "a second boot has nothing to do"
    assert "grew" not in caplog.text


def test_state_setup_grows_before_mounting_and_resizes_after(disk, tmp_path, caplog):
    """state.setup's wiring: found by path, grown, mounted, resized; a refused resize is one line, still mounted."""
    loop, state, boot = disk
    _run("mkfs.ext4", "-q", "-L", "RANCHER_STATE", state)
    caplog.set_level("INFO", logger="rancheros")
    dev = setup(StateSettings(dev=state, wait=False), str(tmp_path / "state"))
    assert dev is not None and dev.device == state and os.path.ismount(tmp_path / "state")
    part_bytes = int(open(f"/sys/class/block/{os.path.basename(state)}/size").read()) * 512
    assert part_bytes > 200 * MiB
    if can_resize_online():
        assert part_bytes - 4096 < _fs_bytes(state) <= part_bytes
    else:
        assert f"state: resize2fs {state} failed (exit 1)" in caplog.text
        assert _fs_bytes(state) == 16 * MiB
