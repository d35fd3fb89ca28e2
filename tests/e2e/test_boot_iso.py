"""The hybrid ISO boots from CD in QEMU (TCG): BIOS via isolinux and UEFI via GRUB, to SSH and a container.

The serial console must show the live entry's command line, the kernel running /init, init's first
timestamped `[   x.xx] rancheros: ...` line, and the OS image mounted from the CD (never copied).
BIOS boots with a blank disk (formatted as the state), UEFI with no disk at all (memory mode). A
kernel+initrd whose OS image has one flipped byte is refused with one line and the recovery shell.
"""

from __future__ import annotations

import re
import struct

import pytest

from machine import busybox_archive, wait_until
from rosbuild.qemu import create_disk, free_port
from sshvm import Ssh

pytestmark = pytest.mark.e2e

BOOT = 900  # seconds a TCG boot may take before the test gives up (not a performance assertion)
INIT_LINE = r"^\[\s*\d+\.\d+\] rancheros: .+$"


def _boot_to_init(vm) -> str:
    vm.start()
    cmd = vm.wait_for(r"Command line: (.*)$", timeout=BOOT)
    vm.wait_for(r"Run /init as init process", timeout=BOOT, start=cmd.end())
    first = vm.wait_for(INIT_LINE, timeout=BOOT, start=cmd.end())
    assert "not syncing" not in vm.serial_text()[: first.start()]
    return cmd.group(1)


def test_iso_is_hybrid(artifacts):
    """One file for CD and USB: an MBR boot record and a GPT (with the EFI partition) up front."""
    head = artifacts.iso.read_bytes()[:1024]
    assert head[510:512] == b"\x55\xaa"
    assert head[512:520] == b"EFI PART"


def _ssh_and_container(vm, port: int, tmp_path) -> Ssh:
    """Services up, the live password logs in over SSH, and the user Docker runs a loaded image."""
    vm.wait_for(r"rancheros: services up", timeout=BOOT)
    log = vm.serial_text()
    assert re.search(r"rancheros: root: OS image /run/rancheros/medium/rancheros.img \(from /dev/sr0\) "
                     r"mounted read-only", log), log[-3000:]
    ssh = Ssh(port, password="rancher")
    ssh.wait(timeout=600, vm=vm)
    # sshd is meant to answer before the user Docker has finished starting
    wait_until(lambda: ssh.run("docker info", check=False).rc == 0, 600, "the user Docker answers")
    archive = busybox_archive(tmp_path)
    assert "Loaded image: e2e/busybox:1" in ssh.run("docker load", stdin=archive.read_bytes()).stdout
    assert ssh.out("docker run --rm e2e/busybox:1 echo container-ran") == "container-ran"
    return ssh


def test_bios_cd_with_blank_disk_boots_to_ssh_and_a_container(artifacts, make_vm, tmp_path):
    port = free_port()
    vm = make_vm(iso=artifacts.iso, memory=1024, disks=[create_disk(tmp_path / "state.qcow2", "4G")],
                 ssh_port=port)
    cmdline = _boot_to_init(vm)
    for arg in ("console=tty0", "console=ttyS0", "rancher.state.autoformat=[/dev/sda,/dev/vda]",
                "rancher.password=rancher"):
        assert arg in cmdline.split()
    assert "rancher.debug=true" not in cmdline  # the default entry is the live one, not debug
    ssh = _ssh_and_container(vm, port, tmp_path)
    assert "rancheros: state: formatting blank /dev/vda as ext4 RANCHER_STATE" in vm.serial_text()
    mounts = ssh.out("cat /proc/mounts")
    assert re.search(r"^/dev/loop\d+ \S+ squashfs ro", mounts, re.M), mounts
    version = ssh.out("sudo ros os version")
    assert version.startswith("RancherOS-Py ") and "image: /run/rancheros/medium/rancheros.img from /dev/sr0" in version


def test_uefi_cd_without_a_disk_boots_to_ssh_and_a_container(artifacts, make_vm, tmp_path):
    port = free_port()
    vm = make_vm(iso=artifacts.iso, memory=1024, uefi=True, ssh_port=port)
    cmdline = _boot_to_init(vm)
    assert "console=ttyS0" in cmdline.split()
    _ssh_and_container(vm, port, tmp_path)
    assert "running from memory" in vm.serial_text()


def _flip_image_byte(initrd: bytes) -> bytes:
    """The kernel+initrd variant starts with the image as a cpio member: flip one byte 1 MiB into it."""
    assert initrd[:6] == b"070701"
    namesize = int(initrd[94:102], 16)
    data = (110 + namesize + 3) & ~3
    at = data + (1 << 20)
    return initrd[:at] + struct.pack("B", initrd[at] ^ 0x01) + initrd[at + 1:]


def test_corrupt_image_is_refused_with_one_line_and_the_recovery_shell(artifacts, make_vm, tmp_path):
    bad = tmp_path / "initrd-corrupt"
    bad.write_bytes(_flip_image_byte(artifacts.initrd.read_bytes()))
    vm = make_vm(kernel=artifacts.vmlinuz, initrd=bad, append=artifacts.live_cmdline, memory=1024)
    vm.start()
    line = vm.wait_for(r"rancheros: (?:error: )?boot failed: OS image /rancheros.img is corrupt: sha256 [0-9a-f]{64}, "
                       r"expected ([0-9a-f]{64})", timeout=BOOT)
    expected = artifacts.image.with_name(artifacts.image.name + ".sha256").read_text().split()[0]
    assert line.group(1) == expected
    vm.wait_for(r"rancheros: recovery shell; ", timeout=300, start=line.end())
    vm.send_serial("echo shell-$((6*7))\n")
    vm.wait_for(r"shell-42", timeout=120, start=line.end())
    text = vm.serial_text()
    assert "Kernel panic" not in text and "services up" not in text and "rebooting" not in text
