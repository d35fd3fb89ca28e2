"""The Vagrant boxes' pure parts: metadata, the seed, the OVF descriptor, the box tar."""

import json
import tarfile
import xml.etree.ElementTree as ET

from rosbuild import vagrantbox

OVF = "{http://schemas.dmtf.org/ovf/envelope/1}"


def test_metadata_names_the_provider_and_the_libvirt_disk():
    assert json.loads(vagrantbox.metadata("libvirt")) == {"provider": "libvirt", "format": "qcow2",
                                                          "virtual_size": vagrantbox.DISK_GIB}
    assert json.loads(vagrantbox.metadata("virtualbox")) == {"provider": "virtualbox"}


def test_seed_is_a_cloud_config_with_the_key():
    text = vagrantbox.seed_cloud_config("ssh-rsa AAAA vagrant")
    assert text.startswith("#cloud-config\n") and json.loads(text.split("\n", 1)[1]) == {
        "ssh_authorized_keys": ["ssh-rsa AAAA vagrant"]}


def test_ovf_references_the_vmdk_and_its_capacity():
    root = ET.fromstring(vagrantbox.ovf(1234))
    f = root.find(f"{OVF}References/{OVF}File")
    assert f.get(f"{OVF}href") == vagrantbox.VMDK_NAME and f.get(f"{OVF}size") == "1234"
    disk = root.find(f"{OVF}DiskSection/{OVF}Disk")
    assert int(disk.get(f"{OVF}capacity")) == vagrantbox.DISK_GIB << 30


def test_virtualbox_vagrantfile_adds_the_base_mac_only_there():
    assert b"base_mac" in vagrantbox.vagrantfile("virtualbox")
    assert b"base_mac" not in vagrantbox.vagrantfile("libvirt")
    assert b"rancheros_guest.rb" in vagrantbox.vagrantfile("libvirt")


def test_box_tar_is_the_same_for_the_same_members(tmp_path):
    disk = tmp_path / "box.img"
    disk.write_bytes(b"disk")
    box = {"metadata.json": b"{}", "box.img": disk}
    vagrantbox.write_box(box, tmp_path / "a.box")
    vagrantbox.write_box(box, tmp_path / "b.box")
    assert (tmp_path / "a.box").read_bytes() == (tmp_path / "b.box").read_bytes()
    with tarfile.open(tmp_path / "a.box") as t:
        assert t.getnames() == ["box.img", "metadata.json"] and t.extractfile("box.img").read() == b"disk"


def test_the_vagrantfiles_and_the_plugin_are_valid_ruby():
    """`ruby -c` of what Vagrant loads: the repository's Vagrantfile, the box's, the guest plugin."""
    import shutil
    import subprocess
    import pytest
    if shutil.which("ruby") is None:
        pytest.skip("ruby is not installed (the vagrant package brings it)")
    for path in (vagrantbox.steps.ROOT / "Vagrantfile", vagrantbox.BOX_VAGRANTFILE, vagrantbox.PLUGIN):
        p = subprocess.run(["ruby", "-c", str(path)], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0 and "Syntax OK" in p.stdout, (path, p.stderr)
