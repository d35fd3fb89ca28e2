"""E2E fixtures: the artefacts built once per session through rosbuild, and VMs cleaned up at teardown.

    def test_x(artifacts, make_vm):
        vm = make_vm(kernel=artifacts.vmlinuz, initrd=artifacts.initrd, append=artifacts.live_cmdline)
        vm.start(); vm.wait_for(r"rancheros: ", timeout=600)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
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


@pytest.fixture(scope="session")
def ntp_server(tmp_path_factory):
    """chronyd serving this machine's time on 127.0.0.1:123, which a guest reaches as 10.0.2.2 (QEMU
    user networking). `-x`: it never sets this machine's clock."""
    if shutil.which("chronyd") is None:
        pytest.fail("chronyd is not installed (./build.py venv installs the prerequisites)")
    d = tmp_path_factory.mktemp("chrony")
    conf = d / "chrony.conf"
    conf.write_text(f"local stratum 8\nallow all\nport 123\ncmdport 0\nbindaddress 127.0.0.1\n"
                    f"driftfile {d}/drift\npidfile {d}/chronyd.pid\n")
    log = open(d / "chronyd.log", "wb")
    proc = subprocess.Popen(["chronyd", "-x", "-d", "-f", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    time.sleep(1)
    if proc.poll() is not None:
        pytest.fail(f"chronyd exited at once: {(d / 'chronyd.log').read_text()[-500:]}")
    yield "10.0.2.2"
    proc.terminate()
    proc.wait(timeout=10)
    log.close()
