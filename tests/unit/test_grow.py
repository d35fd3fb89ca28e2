"""The state partition's growth: the decisions, the sysfs reader, and the steps with the commands faked."""

import logging
import struct
import subprocess

import pytest

from rancheros.init import grow
from rancheros.system import command
from rancheros.init.grow import Part, should_grow

DISK = 8 << 21   # 8 GiB in sectors
MiB = 2048       # sectors


def _state(start=MiB * 900, size=MiB * 64, name="RANCHER_STATE"):
    return Part("vda4", "vda", 4, start, size, name)


def test_grows_the_last_state_partition_with_room_after_it():
    ok, why = should_grow(_state(), DISK, [Part("vda3", "vda", 3, 2048, MiB * 800, "RANCHER_BOOT"), _state()])
    assert ok and why == "7.1 GiB of the disk lie after it"


def test_leaves_other_partitions_and_full_disks_alone():
    assert should_grow(_state(name="data"), DISK, []) == (False, "its partition name is 'data', not RANCHER_STATE")
    assert should_grow(_state(), DISK, [_state(), Part("vda5", "vda", 5, MiB * 1000, 2048, "x")]) == \
        (False, "it is not the last partition on its disk")
    full = _state(size=DISK - MiB * 900 - 34)
    assert should_grow(full, DISK, [full]) == (False, "only 0 MiB of the disk lie after it")


@pytest.mark.parametrize("after, grows", [(16 * MiB, False), (16 * MiB + 1, True)])
def test_more_than_16_mib_after_it(after, grows):
    part = _state()
    assert should_grow(part, part.start + part.size + after, [part])[0] is grows


def test_a_partition_ending_before_a_later_starting_one_is_not_last():
    """Order on the disk is by end, not by partition number: a low number can sit at the end."""
    last = Part("vda1", "vda", 1, MiB * 2000, MiB, "other")
    assert should_grow(_state(), DISK, [last, _state()])[0] is False
    assert should_grow(_state(start=MiB * 3000), DISK, [last, _state(start=MiB * 3000)])[0] is True


def test_human_sizes():
    assert grow.human(100 << 20) == "100 MiB"
    assert grow.human(int(3.9 * 2**30)) == "3.9 GiB"


def _superblock(blocks: int, log_block: int = 2, incompat: int = 0, hi: int = 0, magic: int = 0xEF53) -> bytes:
    sb = bytearray(1024)
    struct.pack_into("<I", sb, 0x04, blocks)
    struct.pack_into("<I", sb, 0x18, log_block)
    struct.pack_into("<H", sb, 0x38, magic)
    struct.pack_into("<I", sb, 0x60, incompat)
    struct.pack_into("<I", sb, 0x150, hi)
    return bytes(sb)


def test_ext_size_from_the_superblock():
    assert grow.ext_bytes(_superblock(16384)) == 64 << 20
    assert grow.ext_bytes(_superblock(0, incompat=0x80, hi=1)) == (1 << 32) * 4096
    assert grow.ext_bytes(_superblock(0, incompat=0, hi=1)) == 0      # hi counts only with the 64bit feature
    assert grow.ext_bytes(_superblock(16384, magic=0x1234)) is None
    assert grow.ext_bytes(b"") is None


def test_fs_short_only_beyond_16_mib():
    assert grow.fs_short(64 << 20, (64 + 17) << 20)
    assert not grow.fs_short(64 << 20, (64 + 16) << 20)
    assert not grow.fs_short(None, 1 << 40)


def test_the_sfdisk_grow_script_reaches_sfdisk_as_stdin(tmp_path):
    argv = grow._sfdisk_grow(4, "/dev/vda")
    fake = tmp_path / "sfdisk"
    fake.write_text('#!/bin/sh\necho "$*"; cat\n')
    fake.chmod(0o755)
    out = subprocess.run(argv, capture_output=True, text=True, env={"PATH": f"{tmp_path}:/usr/bin:/bin"}).stdout
    assert out == "-q --no-reread --no-tell-kernel -N 4 /dev/vda\n, +\n"


def _sysfs(tmp_path, parts: dict[str, tuple[int, int, int, str]], disk_size: int = DISK):
    """A /sys/class/block with disk vda and its partitions {name: (number, start, size, partname)}."""
    disk = tmp_path / "devices" / "vda"
    disk.mkdir(parents=True)
    (disk / "size").write_text(f"{disk_size}\n")
    cls = tmp_path / "class"
    cls.mkdir()
    (cls / "vda").symlink_to(disk)
    for name, (n, start, size, partname) in parts.items():
        (disk / name).mkdir()
        uevent = f"MAJOR=254\nDEVNAME={name}\nDEVTYPE=partition\n" + (f"PARTNAME={partname}\n" if partname else "")
        for f, v in (("partition", n), ("start", start), ("size", size), ("uevent", uevent)):
            (disk / name / f).write_text(f"{v}\n")
        (cls / name).symlink_to(disk / name)
    return cls


def test_reads_partitions_from_sysfs(tmp_path):
    cls = _sysfs(tmp_path, {"vda4": (4, 1843200, 131072, "RANCHER_STATE")})
    assert grow.read_part("vda4", str(cls)) == Part("vda4", "vda", 4, 1843200, 131072, "RANCHER_STATE")
    assert grow.read_part("vda", str(cls)) is None
    assert grow.read_part("vdb", str(cls)) is None


class FakeRun:
    """command.run's stand-in: records argv, answers from a table by program, grows the fake sysfs on partx."""

    def __init__(self, cls, answers=None, new_size=DISK - MiB * 900 - 34):
        self.cls, self.answers, self.new_size, self.calls = cls, answers or {}, new_size, []

    def __call__(self, argv, what, timeout, **kwargs):
        self.calls.append(argv)
        prog = argv[4] if argv[0] == "sh" else argv[0]   # the here-document runs as sh -c script sfdisk N DISK
        key = "sfdisk-N" if argv[0] == "sh" else prog
        answer = self.answers.get(key, (0, "", ""))
        if isinstance(answer, Exception):
            raise answer
        if key == "partx" and answer[0] == 0:
            (self.cls / "vda4" / "size").write_text(f"{self.new_size}\n")
        done = command.Done(argv, answer[0], answer[1], answer[2])
        if answer[0]:
            raise command.CommandFailed(f"{what} failed (exit {answer[0]}): {done.said}", done)
        return done


STATE_LAST = {"vda1": (1, 2048, 2048, "BIOS"), "vda3": (3, MiB * 66, MiB * 768, "RANCHER_BOOT"),
              "vda4": (4, MiB * 900, MiB * 64, "RANCHER_STATE")}


def test_grows_with_the_three_steps_and_one_line(tmp_path, monkeypatch, caplog):
    cls = _sysfs(tmp_path, STATE_LAST)
    fake = FakeRun(cls)
    monkeypatch.setattr(command, "run", fake)
    caplog.set_level(logging.INFO, logger="rancheros")
    assert grow.grow_partition("/dev/vda4", str(cls)) is True
    assert fake.calls[0] == ["sfdisk", "-q", "--relocate", "gpt-bak-std", "/dev/vda"]
    assert fake.calls[1][:2] == ["sh", "-c"] and fake.calls[1][3:] == ["sfdisk", "4", "/dev/vda"]
    assert fake.calls[2] == ["partx", "-u", "--nr", "4", "/dev/vda"]
    assert [r.getMessage() for r in caplog.records] == ["state: grew /dev/vda4 from 64 MiB to 7.1 GiB"]


@pytest.mark.parametrize("broken, calls", [("sfdisk", 1), ("sfdisk-N", 2), ("partx", 3)])
def test_a_failing_step_is_one_warning_and_no_growth(tmp_path, monkeypatch, caplog, broken, calls):
    cls = _sysfs(tmp_path, STATE_LAST)
    fake = FakeRun(cls, {broken: (1, "", "sfdisk: cannot open /dev/vda: Permission denied\n")})
    monkeypatch.setattr(command, "run", fake)
    monkeypatch.setattr(grow, "fs_lags", lambda device: False)
    assert grow.grow_partition("/dev/vda4", str(cls)) is False
    assert len(fake.calls) == calls
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "failed (exit 1): sfdisk: cannot open /dev/vda: Permission denied" in warnings[0]


def test_a_missing_tool_or_a_timeout_is_no_growth(tmp_path, monkeypatch, caplog):
    cls = _sysfs(tmp_path, STATE_LAST)
    monkeypatch.setattr(command, "run", FakeRun(cls, {"sfdisk": command.CommandNotFound("sfdisk: sfdisk not found")}))
    assert grow.grow_partition("/dev/vda4", str(cls)) is False
    assert "state: sfdisk: sfdisk not found" in caplog.text
    monkeypatch.setattr(command, "run", FakeRun(cls, {"partx": command.CommandTimeout("partx: no exit within 60s")}))
    assert grow.grow_partition("/dev/vda4", str(cls)) is False
    assert "state: partx: no exit within 60s" in caplog.text


def test_a_kernel_that_kept_the_old_size_is_no_growth(tmp_path, monkeypatch, caplog):
    cls = _sysfs(tmp_path, STATE_LAST)
    monkeypatch.setattr(command, "run", FakeRun(cls, new_size=MiB * 64))
    assert grow.grow_partition("/dev/vda4", str(cls)) is False
    assert "the kernel did not take the new size" in caplog.text


def test_nothing_runs_for_a_full_disk_or_another_partition(tmp_path, monkeypatch):
    full = dict(STATE_LAST, vda4=(4, MiB * 900, DISK - MiB * 900 - 34, "RANCHER_STATE"))
    cls = _sysfs(tmp_path, full)
    fake = FakeRun(cls)
    monkeypatch.setattr(command, "run", fake)
    monkeypatch.setattr(grow, "fs_lags", lambda device: False)
    assert grow.grow_partition("/dev/vda4", str(cls)) is False
    assert grow.grow_partition("/dev/vda3", str(cls)) is False
    assert grow.grow_partition("/dev/vda", str(cls)) is False
    assert fake.calls == []


def test_a_grown_partition_whose_fs_lags_still_resizes(tmp_path, monkeypatch):
    """A boot that grew the partition but stopped before resize2fs: the next one finds no room, but resizes."""
    full = dict(STATE_LAST, vda4=(4, MiB * 900, DISK - MiB * 900 - 34, "RANCHER_STATE"))
    cls = _sysfs(tmp_path, full)
    monkeypatch.setattr(command, "run", FakeRun(cls))
    monkeypatch.setattr(grow, "fs_lags", lambda device: device == "/dev/vda4")
    assert grow.grow_partition("/dev/vda4", str(cls)) is True
    assert grow.grow_partition("/dev/vda3", str(cls)) is False


def test_partname_from_blkid_when_the_kernel_has_none(tmp_path, monkeypatch):
    """A partition the kernel did not parse itself (added by partx) has no PARTNAME in its uevent."""
    cls = _sysfs(tmp_path, dict(STATE_LAST, vda4=(4, MiB * 900, MiB * 64, "")))
    fake = FakeRun(cls, {"blkid": (0, "DEVNAME=/dev/vda4\nPART_ENTRY_NAME=RANCHER_STATE\n", "")})
    monkeypatch.setattr(command, "run", fake)
    assert grow.grow_partition("/dev/vda4", str(cls)) is True
    assert fake.calls[0] == ["blkid", "-p", "-o", "export", "/dev/vda4"]


def test_fs_lags_reads_the_superblock(tmp_path):
    img = tmp_path / "img"
    with open(img, "wb") as f:
        f.truncate(100 << 20)
        f.seek(1024)
        f.write(_superblock(16384))            # 64 MiB of ext4 on 100 MiB
    assert grow.fs_lags(str(img)) is True
    with open(img, "r+b") as f:
        f.seek(1024)
        f.write(_superblock(22528))            # 88 MiB: within 16 MiB
    assert grow.fs_lags(str(img)) is False
    assert grow.fs_lags(str(tmp_path / "absent")) is False
