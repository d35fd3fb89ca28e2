"""Issue 16 in QEMU (TCG): install from the live ISO, boot the disk alone, upgrade, roll back, fall back.

One disk goes through the whole story, in order, because each step needs the one before:
  live ISO -> `ros install` (a disk holding a file system refused first) -> the disk alone (BIOS)
  -> `ros os upgrade` to a second build over HTTP -> `ros os rollback` -> an upgrade to a broken image
  that comes back by itself. The build's qcow2 boots by UEFI with a config drive.
The second version is `./build.py build --version V` of this same tree into its own dist directory;
the broken one is that image with an initrd whose /init exits at once. The guests' DNS is loopback.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from machine import BOOT, SERVICES_UP, Machine, wait_until
from rancheros import cpio
from rosbuild import osimage, steps
from rosbuild.qemu import VM, create_disk, free_port
from sshvm import Ssh

pytestmark = pytest.mark.e2e

V2 = "0.1.1-e2e"
BROKEN = "0.1.2-broken"
HOSTNAME = "installed-e2e"
TIMES: dict[str, float] = {}


def _cc(key: str, **extra) -> str:
    doc = {"hostname": HOSTNAME, "ssh_authorized_keys": [key],
           "rancher": {"network": {"dns": {"nameservers": ["127.0.0.1"], "override": True}}}, **extra}
    return "#cloud-config\n" + yaml.safe_dump(doc)


@pytest.fixture(scope="module")
def second_build(tmp_path_factory) -> Path:
    """dist/artifacts of `./build.py build --version V2` of this tree (its own ROS_DIST)."""
    out = tmp_path_factory.mktemp("dist-v2")
    env = dict(os.environ, ROS_DIST=str(out))
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, str(steps.ROOT / "build.py"), "build", "--version", V2], env=env,
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    TIMES["second build"] = time.monotonic() - t0
    return out


def broken_image(v2: Path, work: Path) -> Path:
    """V2's image with an initrd whose /init exits at once (the kernel panics), as `rancheros-broken.img`."""
    tree = work / "broken-root"
    subprocess.run(["unsquashfs", "-q", "-n", "-d", str(tree), str(v2 / "rancheros.img")], check=True)
    manifest = tree / "usr/share/rancheros/manifest.json"
    doc = json.loads(manifest.read_text())
    doc["version"] = BROKEN
    manifest.write_text(json.dumps(doc))
    init_tree = work / "broken-initrd"
    (init_tree / "bin").mkdir(parents=True)
    shutil.copy("/usr/bin/busybox", init_tree / "bin/busybox")
    (init_tree / "init").write_text("#!/bin/busybox sh\necho 'broken init: exiting'\nexit 1\n")
    (init_tree / "init").chmod(0o755)
    with open(tree / "usr/share/rancheros/boot/initrd", "wb") as f:
        cpio.write_tree(init_tree, f, steps.SOURCE_DATE_EPOCH, [("dev/console", stat.S_IFCHR | 0o600, 5, 1)])
    out = work / "serve" / "rancheros-broken.img"
    out.parent.mkdir(exist_ok=True)
    argv = osimage.mksquashfs_argv(tree, out, steps.SOURCE_DATE_EPOCH)
    argv[argv.index("19")] = "3"   # a test image: fast over small
    subprocess.run(argv, check=True, capture_output=True)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    out.with_name(out.name + ".sha256").write_text(f"{digest}  {out.name}\n")
    shutil.rmtree(tree)
    return out


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def served(second_build, tmp_path_factory):
    """An HTTP server on the host's loopback: V2's image (+ .sha256), the broken one, one whose checksum is
    wrong, and an upgrade index offering V2 and the broken one."""
    work = tmp_path_factory.mktemp("upgrade-serve")
    serve = work / "serve"
    serve.mkdir()
    for name in ("rancheros.img", "rancheros.img.sha256"):
        shutil.copy(second_build / name, serve / name)
    broken_image(second_build, work)
    (serve / "bad.img").write_bytes(b"not the image the checksum names\n")
    (serve / "bad.img.sha256").write_text("0" * 64 + "  bad.img\n")
    (serve / "index.yml").write_text(yaml.safe_dump({"versions": [
        {"version": V2, "url": "rancheros.img"}, {"version": BROKEN, "url": "rancheros-broken.img"}]}))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(serve)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://10.0.2.2:{srv.server_address[1]}"
    srv.shutdown()


@pytest.fixture(scope="module")
def story(artifacts, tmp_path_factory):
    """The live machine (ISO as a CD, state on vda) with an install target (vdb) and a disk holding ext4 (vdc)."""
    work = tmp_path_factory.mktemp("install-vm")
    m = Machine(artifacts, work, guest_ports=(), medium=True, memory=1536)
    target = create_disk(work / "target.qcow2", "4G")
    second = create_disk(work / "second.qcow2", "4G")   # the installed system installs onto it
    used = work / "used.raw"
    with open(used, "wb") as f:
        f.truncate(64 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-L", "KEEPME", str(used)], check=True)
    m.start(password="rancher", extra_disks=[target, used])
    yield {"machine": m, "work": work, "target": target, "used": used, "second": second}
    m.stop()


def _power_off(ssh: Ssh, vm: VM, what: str) -> None:
    """`ros os shutdown` over SSH (the session drops with the machine), then wait for QEMU to end."""
    ssh.run("sudo ros os shutdown", check=False, timeout=60)
    wait_until(lambda: not vm.running, 300, f"{what} to power off")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Disk:
    """The installed disk booted alone (no ISO, no kernel from the host), by SeaBIOS."""

    def __init__(self, disk: Path, key, work: Path, uefi: bool = False, extra: list[str] = (),
                 more_disks: list[Path] = ()):
        self.port = free_port()
        self.ssh = Ssh(self.port, key)
        self.vm = VM(disks=[disk, *more_disks], memory=1536, ssh_port=self.port, uefi=uefi, extra_args=list(extra),
                     serial_log=work / f"disk-serial-{time.monotonic_ns()}.log")

    def boot(self) -> float:
        t0 = time.monotonic()
        self.vm.start()
        self.vm.wait_for(SERVICES_UP, timeout=BOOT)
        self.ssh.wait(timeout=600, vm=self.vm)
        return time.monotonic() - t0

    def reboot_into(self, command: str) -> tuple[str, float]:
        """Run `command` (which reboots), then wait for services up and SSH; returns the new boot's serial text."""
        mark = len(self.vm.serial_text())
        t0 = time.monotonic()
        self.ssh.run(command, check=False, timeout=900)
        self.vm.wait_for(r"rancheros: rebooting", timeout=300, start=mark)
        self.vm.wait_for(SERVICES_UP, timeout=BOOT, start=mark)
        self.ssh.wait(timeout=600, vm=self.vm)
        return self.vm.serial_text()[mark:], time.monotonic() - t0


def test_install_refuses_a_disk_holding_a_file_system(story):
    m, used = story["machine"], story["used"]
    before = m.ssh.out("sudo sha256sum /dev/vdc").split()[0]
    res = m.ssh.run("sudo ros install -d /dev/vdc --no-reboot", check=False)
    assert res.rc != 0
    assert "holds a ext4 file system labelled 'KEEPME'" in res.stderr and "-f" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    assert m.ssh.out("sudo sha256sum /dev/vdc").split()[0] == before
    res = m.ssh.run("sudo ros install -d /dev/vda --no-reboot", check=False)   # the live state disk
    assert res.rc != 0 and "state disk in use" in res.stderr, res.stderr


def test_install_then_the_disk_boots_alone(story):
    m, work = story["machine"], story["work"]
    m.ssh.run("cat > cc.yml", stdin=_cc(m.key.public).encode())
    t0 = time.monotonic()
    out = m.ssh.out("sudo ros install -d /dev/vdb -c cc.yml --no-reboot", timeout=900)
    TIMES["install"] = time.monotonic() - t0
    assert "[5/5] done: /dev/vdb boots" in out, out
    _power_off(m.ssh, m.vm, "the live machine")
    m.stop()
    disk = Disk(story["target"], m.key, work, more_disks=[story["second"]])
    story["disk"] = disk
    TIMES["first boot from disk"] = disk.boot()
    assert disk.ssh.out("hostname") == HOSTNAME
    version = disk.ssh.out("ros os version")
    assert "0.1.0" in version and "slot A" in version, version
    # the state partition is the installed one, not a tmpfs
    assert "/dev/vda4" in disk.ssh.out("grep ' /mnt/state ' /proc/mounts || mount | grep vda4")


def test_upgrade_over_http_keeps_the_state(story, served):
    disk = story["disk"]
    disk.ssh.run("echo kept > /home/rancher/keep.txt")
    disk.ssh.run("cd /tmp && echo x > f && tar c f | docker import - e2e/kept:1", timeout=300)
    text, took = disk.reboot_into(f"sudo ros os upgrade -i {served}/rancheros.img")
    TIMES["upgrade (command to SSH)"] = took
    assert "is good: it boots from now on" in text
    version = disk.ssh.out("ros os version")
    assert V2 in version and "slot B" in version, version
    assert disk.ssh.out("cat /home/rancher/keep.txt") == "kept"
    images = wait_until(lambda: disk.ssh.run("docker images --format '{{.Repository}}:{{.Tag}}'", check=False,
                                             timeout=120).stdout or None, 300, "the user Docker to answer")
    assert "e2e/kept" in images
    listing = disk.ssh.out("ros os list")
    assert re.search(rf"slot A: 0\.1\.0\s*$", listing, re.M) and f"slot B: {V2} (running, boots next)" in listing, listing


def test_upgrade_refuses_a_missing_image_and_a_bad_checksum(story, served):
    disk = story["disk"]
    before = disk.ssh.out("ros os list")
    res = disk.ssh.run(f"sudo ros os upgrade --no-reboot -i {served}/missing.img", check=False)
    assert res.rc != 0 and "HTTP 404" in res.stderr and "Traceback" not in res.stderr, res.stderr
    res = disk.ssh.run(f"sudo ros os upgrade --no-reboot -i {served}/bad.img", check=False)
    assert res.rc != 0 and f"but {served}/bad.img.sha256 says {'0' * 64}; nothing written" in res.stderr, \
        res.stderr
    assert "Traceback" not in res.stderr
    assert disk.ssh.out("ros os list") == before


def test_rollback_returns_to_the_previous_version(story):
    disk = story["disk"]
    out = disk.ssh.out("sudo ros os rollback")
    assert "0.1.0 (slot A)" in out, out
    disk.reboot_into("sudo ros os reboot")
    version = disk.ssh.out("ros os version")
    assert "0.1.0" in version and "slot A" in version, version


def test_broken_upgrade_comes_back_by_itself(story, served):
    disk = story["disk"]
    disk.ssh.run(f"sudo ros config set rancher.upgrade.url {served}/index.yml")
    listing = disk.ssh.out("sudo ros os list")   # the local config layer (0600) is root's to read
    assert f"offered: {V2} {served}/rancheros.img" in listing and f"offered: {BROKEN} " in listing, listing
    mark = len(disk.vm.serial_text())
    t0 = time.monotonic()
    disk.ssh.run(f"sudo ros os upgrade -i {BROKEN}", check=False, timeout=900)   # a version of the index
    disk.vm.wait_for(r"broken init: exiting", timeout=600, start=mark)
    t_panic = time.monotonic()
    disk.vm.wait_for(r"Kernel panic", timeout=120, start=mark)
    disk.vm.wait_for(r"was rolled back", timeout=BOOT, start=mark)
    disk.vm.wait_for(SERVICES_UP, timeout=BOOT, start=mark)
    disk.ssh.wait(timeout=600, vm=disk.vm)
    TIMES["fallback: broken init to SSH on the previous slot"] = time.monotonic() - t_panic
    TIMES["broken upgrade: command to SSH"] = time.monotonic() - t0
    version = disk.ssh.out("ros os version")
    assert "0.1.0" in version and "slot A" in version, version
    listing = disk.ssh.out("ros os list")
    assert f"the upgrade to {BROKEN} (slot B) was rolled back" in listing, listing
    assert disk.ssh.out("cat /home/rancher/keep.txt") == "kept"


def test_the_installed_system_installs_onto_a_second_disk(story):
    disk, work = story["disk"], story["work"]
    disk.ssh.run("cat > cc.yml", stdin=_cc(disk.ssh.key.public).encode())
    res = disk.ssh.run("sudo ros install -d /dev/vda --no-reboot", check=False)   # the running disk
    assert res.rc != 0 and "in use" in res.stderr, res.stderr
    out = disk.ssh.out("sudo ros install -d /dev/vdb -c cc.yml --no-reboot", timeout=900)
    assert "[5/5] done: /dev/vdb boots" in out, out
    _power_off(disk.ssh, disk.vm, "the installed machine")
    disk.vm.cleanup()
    again = Disk(story["second"], disk.ssh.key, work)
    story["disk"] = again
    again.boot()
    assert again.ssh.out("hostname") == HOSTNAME
    version = again.ssh.out("ros os version")
    assert "0.1.0" in version and "slot A" in version, version
    assert again.ssh.run("test -e /home/rancher/keep.txt", check=False).rc != 0   # a new state, not a copy


def test_qcow2_boots_by_uefi_with_a_config_drive(artifacts, tmp_path):
    from sshvm import SshKey
    from test_cloudinit_datasources import config_drive_with

    key = SshKey.generate(tmp_path)
    disk = tmp_path / "rancheros.qcow2"
    shutil.copy(artifacts.iso.with_name("rancheros.qcow2"), disk)
    subprocess.run(["qemu-img", "resize", "-q", str(disk), "3G"], check=True)
    drive = config_drive_with(tmp_path, _cc(key.public))
    vm = Disk(disk, key, tmp_path, uefi=True,
              extra=["-drive", f"file={drive},media=cdrom,readonly=on,if=ide,index=2"])
    try:
        TIMES["qcow2 first boot (UEFI)"] = vm.boot()
        assert vm.ssh.out("hostname") == HOSTNAME
        size = int(vm.ssh.out("cat /sys/class/block/vda4/size"))
        assert size * 512 > 2 << 30, f"the state partition did not grow: {size} sectors"
    finally:
        vm.vm.cleanup()
        print("\ninstall/upgrade timings (s): " + ", ".join(f"{k} {v:.0f}" for k, v in TIMES.items()))


@pytest.fixture(scope="module", autouse=True)
def _stop_disk(story):
    yield
    if "disk" in story:
        story["disk"].vm.cleanup()
