"""E2E fixtures: the artefacts built once per session through rosbuild, and VMs cleaned up at teardown.

    def test_x(artifacts, make_vm):
        vm = make_vm(kernel=artifacts.vmlinuz, initrd=artifacts.initrd, append=artifacts.live_cmdline)
        vm.start(); vm.wait_for(r"rancheros: ", timeout=600)
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # rosbuild lives beside rancheros

from rosbuild import cli as build_cli  # noqa: E402
from rosbuild.qemu import VM  # noqa: E402


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "e2e tests build as root (apt-get download, depmod into the cache)"
    for tool in ("qemu-system-x86_64", "xorriso", "apt-get"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (./build.py venv installs the prerequisites)"
    return None


@pytest.fixture(scope="session")
def artifacts() -> build_cli.Artifacts:
    """dist/artifacts built (incrementally: seconds when nothing changed) by the real build."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    return build_cli.build()


@pytest.fixture
def make_vm(tmp_path):
    """A factory of VMs (rosbuild.qemu.VM keyword arguments); every VM is killed at teardown.

    The serial log of each VM is kept under the test's tmp_path for post-mortems.
    """
    vms: list[VM] = []

    def make(**kwargs) -> VM:
        kwargs.setdefault("serial_log", tmp_path / f"serial-{len(vms)}.log")
        vm = VM(**kwargs)
        vms.append(vm)
        return vm

    yield make
    for vm in vms:
        vm.cleanup()
