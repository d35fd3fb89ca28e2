"""The hybrid ISO boots from CD in QEMU (TCG): BIOS via isolinux and UEFI via GRUB, up to our PID 1.

The serial console must show the live entry's command line, the kernel running /init, and init's
first timestamped `[   x.xx] rancheros: ...` line.
"""

from __future__ import annotations

import re

import pytest

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


def test_bios_cd_boot_reaches_init(artifacts, make_vm):
    vm = make_vm(iso=artifacts.iso, memory=1024)
    cmdline = _boot_to_init(vm)
    for arg in ("console=tty0", "console=ttyS0", "rancher.state.autoformat=[/dev/sda,/dev/vda]",
                "rancher.password=rancher"):
        assert arg in cmdline.split()
    assert "rancher.debug=true" not in cmdline  # the default entry is the live one, not debug
    assert re.search(r"rancheros: ", vm.serial_text())


def test_uefi_cd_boot_reaches_init(artifacts, make_vm):
    vm = make_vm(iso=artifacts.iso, memory=1024, uefi=True)
    cmdline = _boot_to_init(vm)
    assert "console=ttyS0" in cmdline.split()
