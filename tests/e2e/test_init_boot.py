"""PID 1 in the real image under QEMU (TCG), driven through the serial console as a user would.

Two machines keep CI short:
* the ISO with a blank virtio disk, booted three times: autoformat, services, dockerd restart,
  persistence across `ros os reboot`, a broken local config, and ACPI power-down;
* kernel+initrd whose autoformat list names two disks holding data: both stay byte-identical and
  the system runs from memory.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from pathlib import Path

import pytest

from rosbuild.qemu import VM, create_disk

pytestmark = pytest.mark.e2e

BOOT = 900  # seconds a TCG boot may take before the test gives up (not a performance assertion)
SERVICES_UP = r"rancheros: services up"
JOURNAL_RECOVERY = re.compile(r"EXT4-fs \((?:vd|sd)a\).*recover", re.I)


class Console:
    """A root shell on the VM's serial console: type a command, read its output and status."""

    def __init__(self, vm: VM):
        self.vm = vm

    def login(self, user: str = "rancher", password: str = "rancher") -> None:
        start = len(self.vm.serial_text())
        self.vm.send_serial("\n")
        self.vm.wait_for(r"login: ?$", timeout=300, start=start)
        self.vm.send_serial(user + "\n")
        self.vm.wait_for(r"[Pp]assword: ?$", timeout=60, start=start)
        self.vm.send_serial(password + "\n")
        self.vm.wait_for(r"[$#] ?$", timeout=120, start=start)
        self.run("sudo -i true")  # root through sudo, like the docs say

    def run(self, cmd: str, timeout: float = 180, check: bool = True) -> str:
        tag = uuid.uuid4().hex[:8]
        start = len(self.vm.serial_text())
        self.vm.send_serial(f"sudo sh -c {_quote(cmd)}; echo {tag}=$?\n")
        m = self.vm.wait_for(rf"^{tag}=(\d+)", timeout=timeout, start=start)
        text = self.vm.serial_text()[start:m.start()]
        out = text.split("\n", 1)[1] if "\n" in text else ""
        if check and m.group(1) != "0":
            pytest.fail(f"`{cmd}` exited {m.group(1)}:\n{out}")
        return out.replace("\r", "")


def _quote(s: str) -> str:
    return "'" + s.replace("'", "'\"'\"'") + "'"


def _sha(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _lines_since(vm: VM, start: int) -> str:
    return vm.serial_text()[start:]


@pytest.fixture(scope="module")
def live_vm(artifacts, tmp_path_factory):
    disk = create_disk(tmp_path_factory.mktemp("live") / "state.img", "4G")
    vm = VM(iso=artifacts.iso, disks=[disk], memory=2048)
    vm.start()
    yield vm
    vm.cleanup()


def test_live_iso_first_boot_reboot_and_poweroff(live_vm):
    vm = live_vm
    # --- first boot: the blank disk becomes the state fs; services run ---
    vm.wait_for(SERVICES_UP, timeout=BOOT)
    log = vm.serial_text()
    assert "rancheros: init started" in log
    assert "rancheros: state: formatting blank /dev/vda as ext4 RANCHER_STATE" in log
    assert re.search(r"rancheros: state: /dev/vda \(ext4\) mounted", log)
    assert log.index("system-docker ready") < log.index("images loaded") < log.index("services up")
    sh = Console(vm)
    sh.login()
    assert "RANCHER_STATE" in sh.run("blkid /dev/vda")
    ps = sh.run("system-docker ps --format '{{.Names}}'")
    for name in ("udev", "syslog", "console"):
        assert name in ps.split(), ps

    # --- no zombies under PID 1 after boot ---
    zombies = sh.run("for f in /proc/[0-9]*/status; do awk '/^State:/{s=$2} /^PPid:/{p=$2} "
                     "END{if (s == \"Z\" && p == 1) print FILENAME}' $f; done", check=False)
    assert zombies.strip() == "", zombies

    # --- kill -9 system dockerd: init restarts it and the services come back ---
    mark = len(vm.serial_text())
    sh.run("kill -9 $(cat /var/run/system-docker.pid)")
    vm.wait_for(r"system-docker died \(killed by SIGKILL\); restarting", timeout=120, start=mark)
    vm.wait_for(SERVICES_UP, timeout=BOOT, start=mark)
    assert "console" in sh.run("system-docker ps --format '{{.Names}}'").split()

    # --- persistence: a file and a config value survive `ros os reboot` ---
    sh.run("echo kept-across-reboot > /home/rancher/persist.txt && ros config set rancher.state.wait true"
           " && ros config set rancher.environment.E2E_MARK yes")
    mark = len(vm.serial_text())
    vm.send_serial("sudo ros os reboot\n")
    vm.wait_for(r"rancheros: stopping services", timeout=300, start=mark)
    vm.wait_for(r"rancheros: rebooting", timeout=300, start=mark)
    down = _lines_since(vm, mark)
    assert down.index("service console: stopping") < down.index("service udev: stopping"), down
    vm.wait_for(SERVICES_UP, timeout=BOOT, start=mark)
    second = _lines_since(vm, mark)
    assert "formatting" not in second
    assert not JOURNAL_RECOVERY.search(second), "the state fs was not clean after the reboot"
    sh.login()
    assert sh.run("cat /home/rancher/persist.txt").strip().endswith("kept-across-reboot")
    assert sh.run("ros config get rancher.environment.E2E_MARK").strip().endswith("yes")

    # --- a broken local config: boots with the other layers, one line names the file ---
    sh.run("printf 'rancher: [unclosed\\n' > /var/lib/rancher/conf/cloud-config.yml")
    mark = len(vm.serial_text())
    vm.send_serial("sudo ros os reboot\n")
    vm.wait_for(r"rancheros: rebooting", timeout=300, start=mark)
    vm.wait_for(SERVICES_UP, timeout=BOOT, start=mark)
    third = _lines_since(vm, mark)
    bad = [line for line in third.splitlines() if "/var/lib/rancher/conf/cloud-config.yml" in line]
    assert bad and "skipped" in bad[0], third[-3000:]

    # --- ACPI power button: orderly power-off, clean fs ---
    mark = len(vm.serial_text())
    vm.powerdown()
    vm.wait_for(r"rancheros: powering off", timeout=300, start=mark)
    assert vm.wait_exit(120) == 0
    assert "rancheros: stopping services" in _lines_since(vm, mark)


def _data_disks(dirpath: Path) -> tuple[Path, Path]:
    unlabelled = dirpath / "fs.img"
    with open(unlabelled, "wb") as f:
        f.truncate(64 << 20)
    os.system(f"mkfs.ext4 -F -q {unlabelled}")
    random_disk = dirpath / "random.img"
    with open(random_disk, "wb") as f:
        f.write(os.urandom(4 << 20))
        f.truncate(64 << 20)
    return unlabelled, random_disk


def test_data_disks_untouched_and_memory_mode(artifacts, tmp_path):
    unlabelled, random_disk = _data_disks(tmp_path)
    before = [_sha(unlabelled), _sha(random_disk)]
    cmdline = re.sub(r"rancher\.state\.autoformat=\S+", "", artifacts.live_cmdline)
    vm = VM(kernel=artifacts.vmlinuz, initrd=artifacts.initrd, disks=[unlabelled, random_disk], memory=2048,
            append=f"{cmdline} rancher.state.autoformat=[/dev/vda,/dev/vdb]")
    vm.start()
    try:
        vm.wait_for(SERVICES_UP, timeout=BOOT)
        log = vm.serial_text()
        assert "rancheros: state: not formatting /dev/vda: it holds a ext4 file system without a label" in log
        assert "rancheros: state: not formatting /dev/vdb: it holds data" in log
        assert "rancheros: state: no state device (LABEL=RANCHER_STATE); running from memory" in log
        mark = len(log)
        vm.powerdown()
        vm.wait_for(r"rancheros: powering off", timeout=300, start=mark)
        vm.wait_exit(120)
    finally:
        vm.cleanup()
    assert [_sha(unlabelled), _sha(random_disk)] == before
