"""Pure logic of the build: apt output parsing, held packages, module closure, cpio, boot menus."""

from __future__ import annotations

import io
import stat
import sys
import tarfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # rosbuild lives beside rancheros

from rosbuild.errors import BuildError  # noqa: E402
from rancheros import cpio  # noqa: E402
from rosbuild import debs, elf, images, iso, modules, oci  # noqa: E402

SHOW = """\
Package: gcc-12-base
Version: 12.2.0-14+deb12u1
Installed-Size: 273
Architecture: amd64
Multi-Arch: same
Depends: libc6
Description: GCC, the GNU Compiler Collection (base package)
 continuation line: not a field

Package: mawk
Version: 1.3.4.20200120-3.1
Architecture: amd64
Provides: awk
Essential: yes
Pre-Depends: libc6 (>= 2.34)
"""


def test_a_held_package_is_installed_at_a_version_of_its_own_without_dependencies():
    """apt must neither install nor follow it, yet "=" dependencies on it still hold."""
    held = debs.stanzas(debs.held_status(SHOW))
    assert held[0] == {"Package": "gcc-12-base", "Version": "12.2.0-14+deb12u1+held", "Architecture": "amd64",
                       "Multi-Arch": "same", "Provides": "gcc-12-base (= 12.2.0-14+deb12u1)",
                       "Status": "install ok installed"}
    assert held[1]["Provides"] == "awk, mawk (= 1.3.4.20200120-3.1)" and held[1]["Essential"] == "yes"
    assert not any("Depends" in k for h in held for k in h)
    assert debs.held_status("") == ""


def test_parse_inst_reads_apts_simulated_installs():
    text = ("NOTE: This is only a simulation!\n"
            "Inst libudev1 (252.39-1~deb12u2 Debian:12.15/oldstable [amd64])\n"
            "Inst ca-certificates (20250419~deb12u2 Debian:12.15/oldstable [all])\n"
            "Conf libudev1 (252.39-1~deb12u2 Debian:12.15/oldstable [amd64])\n")
    assert debs.parse_inst(text) == {"libudev1": "252.39-1~deb12u2", "ca-certificates": "20250419~deb12u2"}


def test_exclusions_never_drop_a_requested_root():
    pset = debs.PackageSet("t", ("passwd", "udev"), exclude=("lib*",), only=())
    assert not debs.excluded("passwd", pset)          # NEVER lists passwd, but it was asked for
    assert debs.excluded("debconf", pset)
    assert debs.excluded("libfoo", pset)
    only = debs.PackageSet("k", ("linux-image-amd64",), only=("linux-image-*",))
    assert not debs.excluded("linux-image-6.1.0-1-amd64", only)
    assert debs.excluded("kmod", only)


def test_parse_show_takes_first_stanza_per_package():
    text = "Package: a\nVersion: 1:2.0-1\nArchitecture: amd64\nSHA256: ab\n\nPackage: a\nVersion: 1.0\n"
    deb = debs.parse_show(text)["a"]
    assert (deb.version, deb.sha256) == ("1:2.0-1", "ab")
    assert deb.filename == "a_1%3a2.0-1_amd64.deb"


def test_parse_madison_lists_every_offered_version():
    text = ("linux-image-amd64 |  6.1.192-3 | http://deb.debian.org/debian-security bookworm-security/main amd64 Packages\n"
            "linux-image-amd64 |  6.1.176-1 | http://deb.debian.org/debian bookworm/main amd64 Packages\n"
            "busybox-static | 1:1.35.0-4+deb12u1+b1 | http://deb.debian.org/debian bookworm/main amd64 Packages\n")
    assert debs.parse_madison(text) == {("linux-image-amd64", "6.1.192-3"), ("linux-image-amd64", "6.1.176-1"),
                                        ("busybox-static", "1:1.35.0-4+deb12u1+b1")}


def test_module_closure_follows_dependencies_and_builtins():
    dep = {"kernel/fs/ext4/ext4.ko": ["kernel/fs/jbd2/jbd2.ko", "kernel/fs/mbcache.ko"],
           "kernel/fs/jbd2/jbd2.ko": [], "kernel/fs/mbcache.ko": [], "kernel/x/virtio-blk.ko": []}
    chosen, unknown = modules.resolve(["ext4", "virtio_blk", "af_packet", "nosuch"], dep, {"af_packet"})
    assert chosen == {"kernel/fs/ext4/ext4.ko", "kernel/fs/jbd2/jbd2.ko", "kernel/fs/mbcache.ko",
                      "kernel/x/virtio-blk.ko"}
    assert unknown == ["nosuch"]


def test_readelf_parsing():
    text = (" 0x0000000000000001 (NEEDED)             Shared library: [libc.so.6]\n"
            "      [Requesting program interpreter: /lib64/ld-linux-x86-64.so.2]\n")
    assert elf.parse_readelf(text) == (["libc.so.6"], ["/lib64/ld-linux-x86-64.so.2"])


def _read_newc(data: bytes) -> list[tuple[str, int, int, bytes]]:
    """(name, mode, mtime, data) of each entry of a newc archive."""
    entries, pos = [], 0
    while True:
        assert data[pos:pos + 6] == b"070701"
        fields = [int(data[pos + 6 + 8 * i: pos + 14 + 8 * i], 16) for i in range(13)]
        mode, mtime, size, namesize = fields[1], fields[5], fields[6], fields[11]
        name = data[pos + 110: pos + 110 + namesize - 1].decode()
        pos += 110 + namesize
        pos += -pos % 4
        body = data[pos:pos + size]
        pos += size + (-size % 4)
        if name == "TRAILER!!!":
            return entries
        entries.append((name, mode, mtime, body))


def test_cpio_is_sorted_newc_with_fixed_mtime(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "f").write_bytes(b"hello")
    (tmp_path / "a").symlink_to("b/f")
    out = io.BytesIO()
    cpio.write_tree(tmp_path, out, mtime=1234, devices=[("dev/console", stat.S_IFCHR | 0o600, 5, 1)])
    entries = _read_newc(out.getvalue())
    assert [e[0] for e in entries] == ["a", "b", "b/f", "dev/console"]
    assert {e[2] for e in entries} == {1234}
    assert stat.S_ISLNK(entries[0][1]) and entries[0][3] == b"b/f"
    assert entries[2][3] == b"hello"
    assert stat.S_ISCHR(entries[3][1])
    assert len(out.getvalue()) % 4 == 0


def test_boot_menu_default_is_live_with_serial_console():
    entries = iso.entries("panic=10")
    assert entries[0].label == "live"
    assert "console=ttyS0" in entries[0].cmdline and "rancher.password=rancher" in entries[0].cmdline
    assert entries[1].cmdline.endswith("rancher.debug=true")
    assert "TIMEOUT 30" in iso.isolinux_cfg(entries)
    assert "set timeout=3" in iso.grub_cfg(entries)


def test_layer_tar_is_reproducible_and_owned_by_root(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "shadow").write_text("root:*:1::::::\n")
    (root / "bin").symlink_to("usr/bin")
    outs = []
    for _ in range(2):
        buf = io.BytesIO()
        oci.layer_tar(root, buf, 42, {"/etc/shadow": (0, 42)})
        outs.append(buf.getvalue())
    assert outs[0] == outs[1]
    with tarfile.open(fileobj=io.BytesIO(outs[0])) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert list(members) == ["bin", "etc", "etc/shadow"]
    assert (members["etc/shadow"].uid, members["etc/shadow"].gid) == (0, 42)
    assert members["etc"].mtime == 42 and members["bin"].linkname == "usr/bin"


def test_recipe_errors_name_the_problem(tmp_path):
    bad = tmp_path / "os-x.yml"
    bad.write_text("packages: [a]\nentrypont: [sh]\n")
    with pytest.raises(BuildError, match="unknown keys \\['entrypont'\\]"):
        images.Recipe.load(bad)
    bad.write_text("files:\n  etc/x: {content: a}\n")
    with pytest.raises(BuildError, match="absolute path"):
        images.Recipe.load(bad)
    (tmp_path / "a.yml").write_text("base: b\n")
    (tmp_path / "b.yml").write_text("base: a\n")
    bad.unlink()
    with pytest.raises(BuildError, match="cycle"):
        images.load_all(tmp_path)


def test_real_recipes_load_with_base_first():
    names = [r.name for r in images.load_all()]
    assert names.index("os-base") < names.index("os-console")
    assert {"os-base", "os-udev", "os-syslog", "os-acpid", "os-ntp", "os-console", "os-docker"} <= set(names)


def test_module_softdeps_follow_aliases():
    dep = {"kernel/fs/ext4/ext4.ko": [], "kernel/crypto/crc32c_generic.ko": [], "kernel/x/crc32c-intel.ko": []}
    soft = modules.parse_softdeps("softdep ext4 pre: crypto-crc32c\n")
    aliases = modules.parse_aliases("alias crypto-crc32c crc32c_generic\nalias crypto-crc32c crc32c_intel\n")
    chosen, _ = modules.resolve(["ext4"], dep, set(), soft, aliases)
    assert chosen == set(dep)
