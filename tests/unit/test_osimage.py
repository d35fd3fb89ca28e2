"""The OS image's pure parts: medium labels, source specs, module order, chain IDs, checks, version lines."""

from __future__ import annotations

import hashlib
import struct

import pytest

from rancheros.cli.os_cmd import version_lines
from rancheros.errors import BootError
from rancheros.init import insmod, medium, osimage, state
from rancheros.sysdocker import imagestore


def _iso(label: str) -> bytes:
    head = bytearray(medium.HEAD)
    head[0x8000:0x8006] = b"\x01CD001"
    head[0x8000 + 40:0x8000 + 72] = label.encode().ljust(32)
    return bytes(head)


def _ext4(label: str) -> bytes:
    head = bytearray(4096)
    head[1024 + 56:1024 + 58] = struct.pack("<H", 0xEF53)
    head[1024 + 120:1024 + 136] = label.encode().ljust(16, b"\0")
    return bytes(head)


def _fat32(label: str) -> bytes:
    head = bytearray(512)
    head[510:512] = b"\x55\xaa"
    head[82:90] = b"FAT32   "
    head[71:82] = label.encode().ljust(11)
    return bytes(head)


def test_labels_of_the_file_systems_a_medium_uses():
    assert medium.fs_label(_iso("RANCHEROS")) == ("iso9660", "RANCHEROS")
    assert medium.fs_label(_ext4("RANCHER_BOOT")) == ("ext4", "RANCHER_BOOT")
    assert medium.fs_label(_fat32("EFI")) == ("vfat", "EFI")
    assert medium.fs_label(bytes(medium.HEAD)) is None


def test_source_spec_parses_and_bad_ones_name_the_form():
    assert medium.Source.parse("LABEL=RANCHEROS:/rancheros.img") == medium.Source("LABEL=RANCHEROS", "/rancheros.img")
    assert medium.Source.parse("/dev/vda2:/A/rancheros.img") == medium.Source("/dev/vda2", "/A/rancheros.img")
    for bad in ("LABEL=X", "LABEL=X:relative", ":/x"):
        with pytest.raises(BootError, match="DEVICE:/path"):
            medium.Source.parse(bad)


def test_find_by_label_partlabel_and_path():
    found = [medium.Candidate("/dev/vda1", "vfat", "EFI", "efi"),
             medium.Candidate("/dev/sr0", "iso9660", "RANCHEROS", "")]
    assert medium.find("LABEL=RANCHEROS", found).device == "/dev/sr0"
    assert medium.find("PARTLABEL=efi", found).device == "/dev/vda1"
    assert medium.find("/dev/vda1", found).fstype == "vfat"
    assert medium.find("LABEL=NOPE", found) is None


def test_modules_load_after_what_they_need():
    dep = ("kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko kernel/fs/mbcache.ko kernel/lib/crc16.ko\n"
           "kernel/fs/jbd2/jbd2.ko:\nkernel/fs/mbcache.ko:\nkernel/lib/crc16.ko:\n"
           "kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio_ring.ko\n"
           "kernel/drivers/virtio/virtio_ring.ko:\n")
    order = insmod.load_order(dep)
    assert sorted(order) == sorted({line.split(":")[0] for line in dep.splitlines()})
    for mod, needs in (("ext4", ("jbd2", "mbcache", "crc16")), ("virtio_blk", ("virtio_ring",))):
        at = next(i for i, p in enumerate(order) if p.endswith(f"/{mod}.ko"))
        assert all(next(i for i, p in enumerate(order) if p.endswith(f"/{n}.ko")) < at for n in needs)


def test_chain_ids_match_dockerd():
    # diff IDs and chain IDs as Docker 20.10 wrote them into its layerdb after `docker load`
    base = "sha256:80133a38b6f6b5a073250b4ea2f2adc9e17750ba7137e4aae6896bdcc46ddd6c"
    top = "sha256:c2db5195b83ecb008f672f3a25ba293b59abfa1f3d057fc90e7e58e270a8eb93"
    assert imagestore.chain_ids([base, top]) == [
        base, "sha256:243401e071727def587a5a13eb5906b084bc7ed15b2cb2f2d672c01ca502d830"]


def test_derived_names_are_stable_and_of_overlay2s_form():
    chain = "sha256:" + "ab" * 32
    assert imagestore.cache_id(chain) == imagestore.cache_id(chain) and len(imagestore.cache_id(chain)) == 64
    link = imagestore.link_id(chain)
    assert len(link) == 26 and set(link) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


def test_store_manifest_round_trips():
    store = imagestore.Store([imagestore.StoreLayer("sha256:a", "sha256:a", None, 3, "layers/a")],
                             [imagestore.StoreImage("rancheros/os-base:v1", b'{"x":1}')])
    again = imagestore.Store.from_json(store.to_json())
    assert again == store
    assert again.images[0].id == "sha256:" + hashlib.sha256(b'{"x":1}').hexdigest()


def test_a_flipped_byte_is_refused_naming_image_and_checksum(tmp_path):
    img = tmp_path / "rancheros.img"
    data = bytes(range(256)) * 4096
    img.write_bytes(data)
    good = hashlib.sha256(data).hexdigest()
    osimage.verify(str(img), good)
    img.write_bytes(data[:1000] + bytes([data[1000] ^ 1]) + data[1001:])
    with pytest.raises(BootError) as e:
        osimage.verify(str(img), good)
    assert str(img) in str(e.value) and f"expected {good}" in str(e.value)


def test_expected_checksum_reads_sha256sum_format(tmp_path):
    f = tmp_path / "image.sha256"
    f.write_text("ABCDEF  rancheros.img\n")
    assert osimage.expected_sha256(str(f)) == "abcdef"
    assert osimage.expected_sha256(str(tmp_path / "missing")) is None


def test_progress_says_at_most_every_interval():
    said: list[str] = []
    p = osimage.Progress(said.append, every=3600)
    p.tick("too early")
    p.next = 0.0  # the interval has passed
    p.tick("a")
    p.tick("b")
    assert said == ["a"]


def test_version_lines():
    lines = version_lines({"name": "RancherOS-Py", "version": "1.2", "commit": "abc"},
                          {"path": "/run/rancheros/medium/rancheros.img", "origin": "/dev/sr0", "sha256": "ff"})
    assert lines == ["RancherOS-Py 1.2 (commit abc)", "image: /run/rancheros/medium/rancheros.img from /dev/sr0, sha256 ff"]
    assert version_lines({}, None) == ["RancherOS-Py unknown (commit unknown)"]


def test_state_wait_is_short_without_any_disk(tmp_path):
    settings = state.StateSettings(wait_seconds=10.0)
    assert state.wait_limit(settings, disks=True) == 10.0
    assert state.wait_limit(settings, disks=False) == state.NO_DISK_WAIT
    assert state.wait_limit(state.StateSettings(wait=False), disks=True) == 0.0
    for name in ("loop0", "sr0", "ram0"):
        (tmp_path / name).mkdir()
    assert not state.disks_present(str(tmp_path))
    (tmp_path / "vda").mkdir()
    assert state.disks_present(str(tmp_path))
