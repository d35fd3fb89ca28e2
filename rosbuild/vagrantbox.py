"""The Vagrant boxes: rancheros-libvirt.box (qcow2) and rancheros-virtualbox.box (VMDK + OVF), one disk.

Their disk is the installer's disk image (rosbuild/diskimage.py) with Vagrant's insecure public key
seeded as the install's cloud-config; `vagrant up` swaps it for a generated key through the guest
plugin the boxes carry (vagrant/rancheros_guest.rb). The state partition grows to the disk on first
boot, so the boxes' disks are large and sparse.
"""

from __future__ import annotations

import glob
import io
import json
import tarfile
from pathlib import Path
from xml.sax.saxutils import escape

from rosbuild import steps

LIBVIRT_BOX, VIRTUALBOX_BOX = "rancheros-libvirt.box", "rancheros-virtualbox.box"
VAGRANT_DIR = steps.ROOT / "vagrant"
PLUGIN, BOX_VAGRANTFILE = VAGRANT_DIR / "rancheros_guest.rb", VAGRANT_DIR / "box.Vagrantfile"
INSECURE_KEY_GLOB = "/usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub"   # Debian's vagrant
DISK_GIB = 20
MEMORY_MIB = 1024
VBOX_MAC = "080027D14C66"   # the box's first NIC (Vagrant's VirtualBox provider sets it from base_mac)
VMDK_NAME, OVF_NAME = "box-disk001.vmdk", "box.ovf"


def insecure_key() -> str | None:
    """Vagrant's well-known insecure public key, from the vagrant package; None when it is not installed."""
    found = sorted(glob.glob(INSECURE_KEY_GLOB))
    return Path(found[-1]).read_text().strip() if found else None


def seed_cloud_config(key: str) -> str:
    """What the boxes' first boot applies: Vagrant's insecure key for user rancher (pure)."""
    return "#cloud-config\n" + json.dumps({"ssh_authorized_keys": [key]}) + "\n"


def metadata(provider: str) -> bytes:
    doc = {"provider": provider}
    if provider == "libvirt":
        doc.update(format="qcow2", virtual_size=DISK_GIB)
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


def vagrantfile(provider: str) -> bytes:
    """The box's Vagrantfile: the shared one, plus VirtualBox's NIC MAC for that provider (pure)."""
    text = BOX_VAGRANTFILE.read_text()
    if provider == "virtualbox":
        text += f'\nVagrant.configure("2") do |config|\n  config.vm.base_mac = "{VBOX_MAC}"\nend\n'
    return text.encode()


def _item(instance: int, caption: str, resource_type: int, fields: list[tuple[str, object]]) -> str:
    """One OVF hardware Item, its rasd fields in alphabetical order as the schema wants (pure)."""
    all_fields = sorted([*fields, ("Caption", caption), ("ElementName", caption), ("InstanceID", instance),
                         ("ResourceType", resource_type)])
    return "<Item>" + "".join(f"<rasd:{k}>{escape(str(v))}</rasd:{k}>" for k, v in all_fields) + "</Item>"


def ovf(vmdk_bytes: int, name: str = "rancheros") -> bytes:
    """An OVF 1.0 descriptor for one SATA disk and one NAT NIC, as VirtualBox imports it (pure)."""
    cap = DISK_GIB << 30
    hw = "".join(_item(*i) for i in (
        (1, "Virtual CPU", 3, [("VirtualQuantity", 1)]),
        (2, f"{MEMORY_MIB} MB of memory", 4, [("AllocationUnits", "MegaBytes"), ("VirtualQuantity", MEMORY_MIB)]),
        (3, "sataController0", 20, [("Address", 0), ("ResourceSubType", "AHCI")]),
        (4, "disk1", 17, [("AddressOnParent", 0), ("HostResource", "/disk/vmdisk1"), ("Parent", 3)]),
        (5, "Ethernet adapter on 'NAT'", 10, [("AutomaticAllocation", "true"), ("Connection", "NAT"),
                                              ("ResourceSubType", "E1000")]),
    ))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Envelope ovf:version="1.0" xml:lang="en-US" xmlns="http://schemas.dmtf.org/ovf/envelope/1" '
        'xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" '
        'xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" '
        'xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f'<References><File ovf:href="{VMDK_NAME}" ovf:id="file1" ovf:size="{vmdk_bytes}"/></References>'
        '<DiskSection><Info>List of the virtual disks used in the package</Info>'
        f'<Disk ovf:capacity="{cap}" ovf:diskId="vmdisk1" ovf:fileRef="file1" '
        'ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/></DiskSection>'
        '<NetworkSection><Info>Logical networks used in the package</Info>'
        '<Network ovf:name="NAT"><Description>Logical network used by this appliance.</Description></Network>'
        '</NetworkSection>'
        f'<VirtualSystem ovf:id="{escape(name)}"><Info>A virtual machine</Info>'
        '<OperatingSystemSection ovf:id="101"><Info>The kind of installed guest operating system</Info>'
        '<Description>Linux26_64</Description></OperatingSystemSection>'
        '<VirtualHardwareSection><Info>Virtual hardware requirements for a virtual machine</Info>'
        '<System><vssd:ElementName>Virtual Hardware Family</vssd:ElementName><vssd:InstanceID>0</vssd:InstanceID>'
        f'<vssd:VirtualSystemIdentifier>{escape(name)}</vssd:VirtualSystemIdentifier>'
        '<vssd:VirtualSystemType>virtualbox-2.2</vssd:VirtualSystemType></System>'
        f'{hw}</VirtualHardwareSection></VirtualSystem></Envelope>\n').encode()


def members(provider: str, disk: dict[str, bytes | Path]) -> dict[str, bytes | Path]:
    """A box's files: its metadata, Vagrantfile and the guest plugin, plus the provider's disk files."""
    return {"metadata.json": metadata(provider), "Vagrantfile": vagrantfile(provider),
            PLUGIN.name: PLUGIN.read_bytes(), **disk}


def write_box(files: dict[str, bytes | Path], dest: Path) -> None:
    """A box file: a tar of `files` (name -> bytes or a file), fixed owners and times (same inputs, same bytes)."""
    tmp = dest.with_name(dest.name + ".tmp")
    with tarfile.open(tmp, "w", format=tarfile.GNU_FORMAT) as tar:
        for name in sorted(files):
            value = files[name]
            info = tarfile.TarInfo(name)
            info.mtime, info.mode, info.uid, info.gid = steps.SOURCE_DATE_EPOCH, 0o644, 0, 0
            if isinstance(value, Path):
                info.size = value.stat().st_size
                with open(value, "rb") as f:
                    tar.addfile(info, f)
            else:
                info.size = len(value)
                tar.addfile(info, io.BytesIO(value))
    tmp.replace(dest)


def build(raw: Path, out: Path, work: Path) -> list[Path]:
    """Both boxes from the seeded raw disk `raw`; `work` holds the converted disks meanwhile."""
    work.mkdir(parents=True, exist_ok=True)
    qcow2, vmdk = work / "box.img", work / VMDK_NAME
    for p in (qcow2, vmdk):
        p.unlink(missing_ok=True)
    steps.run(["qemu-img", "convert", "-q", "-c", "-f", "raw", "-O", "qcow2", raw, qcow2])
    steps.run(["qemu-img", "resize", "-q", qcow2, f"{DISK_GIB}G"])
    steps.run(["qemu-img", "convert", "-q", "-f", "qcow2", "-O", "vmdk", "-o", "subformat=streamOptimized",
               qcow2, vmdk])
    boxes = {
        LIBVIRT_BOX: members("libvirt", {"box.img": qcow2}),
        VIRTUALBOX_BOX: members("virtualbox", {OVF_NAME: ovf(vmdk.stat().st_size), VMDK_NAME: vmdk}),
    }
    written = []
    for name, files in boxes.items():
        write_box(files, out / name)
        written.append(out / name)
    for p in (qcow2, vmdk):
        p.unlink()
    return written
