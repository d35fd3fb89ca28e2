"""The Vagrant boxes, under Debian's vagrant + vagrant-libvirt, in a network namespace of the test's.

The repository's own Vagrantfile drives one node with the libvirt box: `vagrant up` (key swap,
hostname, private network through the box's guest plugin), `vagrant ssh`, a container, `vagrant
halt` (an orderly power-off), `vagrant up` again (the /home file kept), `vagrant destroy -f`.
The VirtualBox box cannot boot here (no VirtualBox): Vagrant adds it and its VMDK and OVF are checked.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tarfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from rosbuild import steps, vagrantbox
from machine import busybox_archive
from vagrantlab import LabError, VagrantLab

BOX = "rancheros-e2e"
NODE = "rancher-01"
ADDRESS = "172.19.8.101"

@pytest.fixture(scope="module")
def lab(artifacts, tmp_path_factory):
    for tool in ("vagrant", "libvirtd", "virsh"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (./build.py venv installs the prerequisites)")
    lab = VagrantLab(Path(tmp_path_factory.mktemp("vagrant-lab")) / "lab")
    lab.up()
    yield lab
    lab.down()
    assert lab.ns not in _netns(), "the lab's network namespace outlived it"


def _netns() -> list[str]:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=30).stdout.split()


def _box(name: str) -> Path:
    path = steps.DIST / name
    if not path.exists():
        pytest.fail(f"{path} was not built (build.py writes it when vagrant's insecure key is installed)")
    return path


def test_virtualbox_box_is_added_and_its_disk_and_ovf_check(lab, tmp_path):
    box = _box(vagrantbox.VIRTUALBOX_BOX)
    with tarfile.open(box) as t:
        names = sorted(t.getnames())
        t.extractall(tmp_path / "box")
    assert names == sorted(["Vagrantfile", "box-disk001.vmdk", "box.ovf", "metadata.json", "rancheros_guest.rb"])
    d = tmp_path / "box"
    check = lab.run(["qemu-img", "check", str(d / "box-disk001.vmdk")], timeout=300)
    assert "No errors were found" in check.stdout
    info = lab.run(["qemu-img", "info", "--output=json", str(d / "box-disk001.vmdk")], timeout=60).stdout
    assert '"format": "vmdk"' in info and '"virtual-size": 21474836480' in info
    ns = {"o": "http://schemas.dmtf.org/ovf/envelope/1",
          "r": "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"}
    env = ET.parse(d / "box.ovf").getroot()
    ref = env.find("o:References/o:File", ns)
    assert ref.get(f"{{{ns['o']}}}href") == "box-disk001.vmdk"
    assert int(ref.get(f"{{{ns['o']}}}size")) == (d / "box-disk001.vmdk").stat().st_size
    disk = env.find("o:DiskSection/o:Disk", ns)
    assert int(disk.get(f"{{{ns['o']}}}capacity")) == 20 << 30
    kinds = [int(i.find("r:ResourceType", ns).text) for i in env.iter(f"{{{ns['o']}}}Item")]
    assert sorted(kinds) == [3, 4, 10, 17, 20]   # CPU, memory, NIC, disk, SATA controller
    lab.run(["vagrant", "box", "add", "--name", "rancheros-vbox-e2e", str(box)], timeout=300)
    listed = lab.run(["vagrant", "box", "list"], timeout=120).stdout
    assert "rancheros-vbox-e2e" in listed and "virtualbox" in listed
    lab.run(["vagrant", "box", "remove", "--force", "rancheros-vbox-e2e"], timeout=120)


# A user's project on top of the repository's Vagrantfile: an rsync synced folder and a DHCP network.
PROJECT_VAGRANTFILE = """\
load File.expand_path("Vagrantfile.rancheros", __dir__)
Vagrant.configure("2") do |config|
  config.vm.synced_folder ".", "/vagrant", type: "rsync", rsync__exclude: [".vagrant/", "*.log"]
  config.vm.define "rancher-01" do |node|
    node.vm.network :private_network, type: "dhcp"
  end
end
"""


def _project(lab: VagrantLab, tmp_path: Path) -> Path:
    proj = tmp_path / "project"
    proj.mkdir()
    shutil.copy2(steps.ROOT / "Vagrantfile", proj / "Vagrantfile.rancheros")
    (proj / "Vagrantfile").write_text(PROJECT_VAGRANTFILE)
    (proj / "synced.txt").write_text("from-the-host\n")
    return proj


def test_vagrant_up_ssh_halt_up_destroy(lab, tmp_path):
    box = _box(vagrantbox.LIBVIRT_BOX)
    log = tmp_path / "vagrant.log"
    env = {"RANCHEROS_BOX": BOX, "RANCHEROS_LIBVIRT_DRIVER": "qemu", "RANCHEROS_BOOT_TIMEOUT": "900",
           "RANCHEROS_SERIAL_LOG": "/var/log/libvirt/qemu"}
    proj = _project(lab, tmp_path)

    def vagrant(*args: str, timeout: float = 300) -> str:
        return lab.run(["vagrant", *args], timeout=timeout, cwd=proj, env=env, log=log).stdout

    def ssh(cmd: str, timeout: float = 300) -> str:
        return vagrant("ssh", "-c", cmd, timeout=timeout)

    def serial() -> str:
        path = lab.state / f"log/qemu/{NODE}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    vagrant("box", "add", "--name", BOX, str(box))
    try:
        t0 = time.monotonic()
        try:
            vagrant("up", "--provider=libvirt", timeout=1500)
        except LabError as e:
            raise AssertionError(f"{e}\nserial console:\n{serial()[-3000:]}") from None
        print(f"vagrant up (box import, first boot, key swap, hostname, network): {time.monotonic() - t0:.0f} s")
        up_out = log.read_text()
        assert "Inserting generated public key" in up_out or "Key inserted" in up_out, up_out[-3000:]

        assert ssh("sudo ros config get hostname").strip() == NODE
        addrs = ssh("ip addr")
        assert f"inet {ADDRESS}/24" in addrs, addrs
        # only the static address: the DHCP lease eth1 held before the config named it is gone
        assert re.findall(r"inet (\S+)", ssh("ip -4 -o addr show eth1")) == [f"{ADDRESS}/24"]
        # the DHCP private network: one lease from libvirt's network, and the config says dhcp
        eth2 = re.findall(r"inet (\S+)", ssh("ip -4 -o addr show eth2"))
        assert len(eth2) == 1 and re.fullmatch(r"172\.28\.128\.\d+/24", eth2[0]), eth2
        assert "dhcp: true" in ssh("sudo ros config get rancher.network.interfaces.eth2")
        # the rsync synced folder reached the guest
        assert ssh("cat /vagrant/synced.txt").strip() == "from-the-host"
        # Vagrant's generated key replaced the insecure one, in the config too (it survives a reboot).
        keys = ssh("sudo ros config get ssh_authorized_keys")
        assert "vagrant insecure public key" not in keys and "ssh-" in keys, keys

        archive = busybox_archive(tmp_path)
        vagrant("upload", str(archive), "/home/rancher/busybox.tar")
        out = ssh("docker load -i /home/rancher/busybox.tar && docker run --rm e2e/busybox:1 echo hello-from-vagrant")
        assert "hello-from-vagrant" in out
        ssh("echo kept-across-halt > /home/rancher/marker && sync")

        t0 = time.monotonic()
        vagrant("halt", timeout=600)
        print(f"vagrant halt: {time.monotonic() - t0:.0f} s")
        (domain,) = lab.domains()
        state = lab.virsh("domstate", "--reason", domain).strip()
        assert state == "shut off (shutdown)", f"not an orderly power-off: {state}\n{serial()[-2000:]}"

        t0 = time.monotonic()
        vagrant("up", "--provider=libvirt", timeout=1200)
        print(f"vagrant up of the halted machine: {time.monotonic() - t0:.0f} s")
        assert ssh("cat /home/rancher/marker").strip() == "kept-across-halt"
        assert ssh("hostname").strip() == NODE
        assert "recovering journal" not in serial(), "the halt left a file system to recover"
    finally:
        vagrant("destroy", "-f", timeout=600)
    assert lab.domains() == []
    assert [v for v in lab.volumes() if not v.startswith(f"{BOX}_vagrant_box_image")] == [], lab.volumes()
    assert lab.networks() == [], lab.networks()
    assert not list((proj / ".vagrant/machines").glob("*/libvirt/id"))
    vagrant("box", "remove", "--force", BOX)
    for v in lab.volumes():   # vagrant-libvirt leaves the box's volume in the pool (documented)
        lab.virsh("vol-delete", "--pool", "default", v)
