"""PID 1 in the real image under QEMU (TCG), driven and read through the serial console.

Two machines keep CI short:
* the live kernel+initrd (the ISO's default entry) with a blank virtio disk, booted three times and
  driven through the serial console: autoformat, services, orphans reaped, `kill -9` of system
  dockerd, persistence across `ros os reboot`, a broken local config, and ACPI power-down;
* kernel+initrd whose autoformat list names two disks holding data: both stay byte-identical and
  the system runs from memory.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

import pytest

from rosbuild.qemu import VM, create_disk

from machine import SerialShell

pytestmark = pytest.mark.e2e

BOOT = 1200  # seconds a TCG boot may take before the test gives up (not a performance assertion)
SERVICES_UP = r"rancheros: services up"

JOURNAL_RECOVERY = re.compile(r"EXT4-fs \((?:vd|sd)a\).*recover", re.I)


def _sha(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _since(vm: VM, mark: int) -> str:
    return vm.serial_text()[mark:]


ZOMBIES_OF_INIT = ("for f in /proc/[0-9]*/status; do awk '/^State:/{s=$2} /^PPid:/{p=$2} "
                   "END{if (s == \"Z\" && p == 1) print FILENAME}' $f 2>/dev/null; done")  # processes may vanish


def _reboot(vm: VM, command: str = "sudo ros os reboot") -> str:
    """`command` (a reboot) from the serial shell; the serial text from the request to services up."""
    mark = len(vm.serial_text())
    vm.send_serial(command + "\n")
    vm.wait_for(r"rancheros: rebooting", timeout=300, start=mark)
    vm.wait_for(SERVICES_UP, timeout=BOOT, start=mark)
    return _since(vm, mark)


def test_lifecycle_autoformat_orphans_dockerd_kill_persistence_broken_config_poweroff(artifacts, tmp_path):
    disk = create_disk(tmp_path / "state.img", "6G")
    vm = VM(kernel=artifacts.vmlinuz, initrd=artifacts.initrd, append=artifacts.live_cmdline, disks=[disk],
            memory=2048, serial_log=tmp_path / "serial.log")
    vm.start()
    sh = SerialShell(vm)
    try:
        # --- first boot: the blank disk becomes the state fs; services run ---
        vm.wait_for(SERVICES_UP, timeout=BOOT)
        log = vm.serial_text()
        assert "rancheros: init started" in log
        assert "rancheros: state: formatting blank /dev/vda as ext4 RANCHER_STATE" in log
        assert re.search(r"rancheros: state: /dev/vda \(ext4\) mounted", log)
        assert log.index("system-docker ready") < log.index("images loaded") < log.index("services up")
        sh.login()
        assert sh.run("grep ' /mnt/state ' /proc/1/mounts").startswith("/dev/vda /mnt/state ext4")
        names = sh.run("system-docker ps --format '{{.Names}}'").split()
        for name in ("udev", "syslog", "acpid", "console"):
            assert name in names, names
        assert sh.run(ZOMBIES_OF_INIT) == ""

        # --- orphans: a stopped container's shim (daemonized, so a child of PID 1) is reaped ---
        sh.run("system-docker restart acpid && system-docker restart acpid")
        assert sh.run(ZOMBIES_OF_INIT) == ""

        # --- kill -9 of system dockerd: init restarts it and brings the services back ---
        mark = len(vm.serial_text())
        sh.run("kill -9 $(cat /run/system-docker.pid)")
        vm.wait_for(r"rancheros: error: system-docker died \(killed by SIGKILL\)", timeout=120, start=mark)
        vm.wait_for(SERVICES_UP, timeout=BOOT, start=mark)
        sh.login()  # the serial session lived in the console container, restarted with the others
        names = sh.run("system-docker ps --format '{{.Names}}'").split()
        for name in ("udev", "syslog", "acpid", "network", "ntp", "console"):
            assert name in names, names
        sh.run("touch /run/e2e-rw /tmp/e2e-rw")  # the shared tmpfs stayed writable (it once did not)
        assert sh.run(ZOMBIES_OF_INIT) == ""

        # --- persistence: a file and a config value survive `ros os reboot`; clean fs, reverse stop ---
        sh.run("echo kept-across-reboot > /home/rancher/persist.txt")
        sh.run("ros config set rancher.environment.E2E_MARK persisted")
        boot2 = _reboot(vm)
        assert boot2.index("rancheros: stopping services") < boot2.index("rancheros: rebooting")
        # reverse dependency order: each service stops before what it starts after
        for dependant, dependency in (("docker", "console"), ("syslog", "udev"), ("ntp", "network")):
            assert boot2.index(f"service {dependant}: stopping") < boot2.index(f"service {dependency}: stopping")
        assert "formatting" not in boot2
        assert not JOURNAL_RECOVERY.search(boot2), "the state fs needed journal recovery after reboot"
        sh.login()
        assert sh.run("cat /home/rancher/persist.txt") == "kept-across-reboot"
        assert sh.run("ros config get rancher.environment.E2E_MARK") == "persisted"

        # --- a broken local config: boots with the other layers, one line names the file ---
        sh.run("printf 'rancher: [unclosed\\n' > /var/lib/rancher/conf/cloud-config.yml")
        boot3 = _reboot(vm, "sudo reboot")  # the console's own reboot command, not busybox's
        bad = [ln for ln in boot3.splitlines() if "/var/lib/rancher/conf/cloud-config.yml" in ln]
        assert len(bad) == 1 and "skipped" in bad[0], boot3[-3000:]

        # --- ACPI power button: orderly power-off, QEMU exits ---
        mark = len(vm.serial_text())
        vm.powerdown()
        vm.wait_for(r"rancheros: powering off", timeout=300, start=mark)
        assert vm.wait_exit(120) == 0
        assert "rancheros: stopping services" in _since(vm, mark)
    finally:
        vm.cleanup()


def _data_disks(dirpath: Path) -> tuple[Path, Path]:
    unlabelled = dirpath / "fs.img"
    with open(unlabelled, "wb") as f:
        f.truncate(64 << 20)
    subprocess.run(["mkfs.ext4", "-F", "-q", str(unlabelled)], check=True)
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
