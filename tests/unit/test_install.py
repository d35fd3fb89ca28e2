"""The installer's pure parts: the layout, GRUB's two fields, grubenv, the checksum initrd, the slot rules."""

import contextlib
import io
import os
import shutil
import signal
import struct
import subprocess
import threading
from pathlib import Path

import pytest

from rancheros.install import bootenv, bootslot, grub, initrd, layout, upgrade
from rancheros.install.bootslot import Booted
from rancheros.install.disk import partition_node, users

GIB = 1 << 30


def test_layout_aligns_partitions_and_leaves_room_for_the_backup_gpt():
    plan = layout.plan(4 * GIB)
    names = [p.name for p in plan.partitions]
    assert names == ["BIOS", "EFI", "RANCHER_BOOT", "RANCHER_STATE"]
    assert all(p.start % layout.MIB == 0 for p in plan.partitions)
    for a, b in zip(plan.partitions, plan.partitions[1:]):
        assert a.start + a.size == b.start
    end = plan.state.start + plan.state.size
    assert end <= plan.disk_sectors - layout.GPT_TAIL
    assert layout.plan(4 * GIB, state_mib=64).state.size == 64 * layout.MIB


def test_layout_refuses_a_small_disk_naming_sizes():
    with pytest.raises(ValueError, match="too small"):
        layout.plan(512 << 20)


def test_sfdisk_script_names_every_partition():
    text = layout.sfdisk_script(layout.plan(4 * GIB), "11111111-2222-3333-4444-555555555555", {1: "u1"})
    assert text.startswith("label: gpt\n") and "label-id: 11111111" in text
    assert 'name="RANCHER_STATE"' in text and "uuid=u1" in text and layout.BIOS_BOOT in text


def _core(tmp_path: Path) -> bytes:
    if shutil.which("grub-mkimage") is None:
        pytest.skip("grub-mkimage is not installed")
    out = tmp_path / "core.img"
    subprocess.run(["grub-mkimage", "-O", "i386-pc", "-p", "/grub", "-o", str(out), "biosdisk", "part_gpt", "ext2"],
                   check=True)
    return out.read_bytes()


def test_mbr_code_loads_the_core_sector_and_skips_the_drive_check():
    boot = Path("/usr/lib/grub/i386-pc/boot.img")
    if not boot.exists():
        pytest.skip("grub-pc-bin is not installed")
    code = grub.mbr_code(boot.read_bytes(), 2048)
    assert len(code) == grub.MBR_CODE
    assert struct.unpack_from("<Q", code, grub.KERNEL_SECTOR)[0] == 2048
    assert code[grub.DRIVE_CHECK:grub.DRIVE_CHECK + 2] == b"\x90\x90"
    with pytest.raises(grub.GrubImageError):
        grub.mbr_code(b"\0" * 512, 2048)


def test_placed_core_points_its_block_list_after_its_first_sector(tmp_path):
    core = _core(tmp_path)
    placed = grub.placed_core(core, 2048, 2048)
    start, length, _ = struct.unpack_from("<QHH", placed, grub.BLOCKLIST)
    assert start == 2049 and length == len(placed) // 512 - 1
    with pytest.raises(grub.GrubImageError, match="needs"):
        grub.placed_core(core, 2048, 1)


def test_grub_cfg_boots_boot_slot_or_next_slot_once():
    cfg = grub.grub_cfg("console=ttyS0", {"A": "1.0"})
    assert "load_env" in cfg and "save_env next_slot" in cfg
    assert '--id A' in cfg and '--id B' in cfg and "slot A 1.0" in cfg
    assert "linux /B/vmlinuz console=ttyS0 rancher.image=LABEL=RANCHER_BOOT:/B/rancheros.img rancher.os.slot=B $trial" in cfg
    assert grub.TRIAL_ARGS in cfg


def test_grubenv_round_trip_is_one_block():
    raw = bootenv.render({"boot_slot": "A", "tried_reason": "a\\b"})
    assert len(raw) == bootenv.SIZE and raw.startswith(bootenv.HEADER.encode())
    assert bootenv.parse(raw) == {"boot_slot": "A", "tried_reason": "a\\b"}
    with pytest.raises(bootenv.EnvError):
        bootenv.render({"x": "a\nb"})
    with pytest.raises(bootenv.EnvError):
        bootenv.render({"x": "y" * 2000})
    with pytest.raises(bootenv.EnvError):
        bootenv.parse(b"nothing")


def test_a_trial_is_reported_rolled_back_only_once_it_is_over():
    env = bootenv.BootEnv()
    env.mark_good("A")
    env.try_once("B", "2.0")
    assert env.next_slot == "B" and env.boot_slot == "A"
    assert env.rolled_back("A") is None            # GRUB has not booted it yet
    env.values["next_slot"] = ""                  # GRUB cleared it and booted B
    assert env.rolled_back("B") is None            # B runs: not over
    assert "upgrade to 2.0 (slot B) was rolled back" in env.rolled_back("A")
    env.mark_good("B")
    assert env.boot_slot == "B" and env.rolled_back("A") is None


def test_checksum_initrd_is_a_cpio_in_front():
    sha = "ab" * 32
    out = initrd.with_checksum(b"BASE", sha)
    assert out.endswith(b"BASE") and (len(out) - 4) % 512 == 0
    assert out.startswith(b"070701") and f"{sha}  rancheros.img".encode() in out
    assert initrd.SHA256_MEMBER.encode() in out
    with pytest.raises(ValueError):
        initrd.with_checksum(b"", "nope")


def test_booted_slot_from_the_command_line():
    assert Booted.from_cmdline("console=ttyS0 rancher.os.slot=B rancher.os.trial=1") == Booted("B", True)
    assert Booted.from_cmdline("rancher.os.slot=C") == Booted(None, False)


def test_upgrade_helpers(tmp_path):
    assert upgrade.parse_sha256("AB" * 32 + "  rancheros.img\n", "x") == "ab" * 32
    with pytest.raises(Exception, match="holds no sha256"):
        upgrade.parse_sha256("garbage", "x.sha256")
    assert upgrade.other("A") == "B" and upgrade.other("B") == "A"
    f = tmp_path / "img"
    f.write_bytes(b"x")
    assert upgrade.resolve(str(f), "") == str(f)
    with pytest.raises(Exception, match="rancher.upgrade.url is not set"):
        upgrade.resolve("1.2.3", "")


def test_disk_names_and_users(tmp_path):
    assert partition_node("/dev/vda", 3) == "/dev/vda3"
    assert partition_node("/dev/nvme0n1", 3) == "/dev/nvme0n1p3"
    mounts = tmp_path / "mounts"
    mounts.write_text("36 1 254:0 / /mnt/state rw - ext4 /dev/vdz rw\n22 1 0:5 / /proc rw - proc proc rw\n")
    assert users("/dev/vdz", str(mounts), str(tmp_path / "none")) == ["/dev/vdz on /mnt/state"]


def _trial_boot(monkeypatch, tmp_path) -> list:
    """bootslot on a trial boot of slot B, its boot partition a directory, PID 1's signal recorded."""
    (tmp_path / grub.GRUB_DIR).mkdir(parents=True)
    env = bootenv.BootEnv()
    env.mark_good("A")
    env.try_once("B", "2.0")
    env.values["next_slot"] = ""                  # GRUB took the one try
    bootenv.write(str(tmp_path / bootslot.ENV_PATH), env)
    monkeypatch.setattr(bootslot, "booted", lambda: Booted("B", True))
    monkeypatch.setattr(bootslot, "boot_dir", lambda: str(tmp_path))
    monkeypatch.setattr(bootslot, "writable", contextlib.nullcontext)
    kills: list = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: kills.append((pid, sig)))
    return kills


def test_a_trial_without_services_up_reboots_and_says_why(monkeypatch, tmp_path):
    kills = _trial_boot(monkeypatch, tmp_path)
    bootslot.watch_trial(threading.Event(), timeout=0.2).join(5)
    assert kills == [(1, signal.SIGUSR1)]
    env = bootenv.read(str(tmp_path / bootslot.ENV_PATH))
    assert env.rolled_back("A") == ("the upgrade to 2.0 (slot B) was rolled back: "
                                    "services were not up within 0s")
    assert env.boot_slot == "A"                   # the reboot runs the previous slot


def test_a_trial_that_reaches_services_up_stays(monkeypatch, tmp_path):
    kills = _trial_boot(monkeypatch, tmp_path)
    up = threading.Event()
    watch = bootslot.watch_trial(up, timeout=5)
    bootslot.services_up()
    up.set()
    watch.join(5)
    assert kills == [] and not watch.is_alive()
    env = bootenv.read(str(tmp_path / bootslot.ENV_PATH))
    assert env.boot_slot == "B" and env.rolled_back("A") is None
