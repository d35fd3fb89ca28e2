"""The state partition's growth decision and its sysfs reader."""

from rancheros.init import grow
from rancheros.init.grow import Part, should_grow

DISK = 8 << 21   # 8 GiB in sectors


def _state(start=2048 * 900, size=2048 * 64, name="RANCHER_STATE"):
    return Part("vda4", "vda", 4, start, size, name)


def test_grows_the_last_state_partition_with_room_after_it():
    ok, why = should_grow(_state(), DISK, [Part("vda3", "vda", 3, 2048, 2048 * 800, "RANCHER_BOOT"), _state()])
    assert ok and "MiB free" in why


def test_leaves_other_partitions_and_full_disks_alone():
    assert should_grow(_state(name="data"), DISK, [])[0] is False
    assert should_grow(_state(), DISK, [_state(), Part("vda5", "vda", 5, 2048 * 1000, 2048, "x")]) == \
        (False, "it is not the last partition on its disk")
    full = _state(size=DISK - 2048 * 900 - 34)
    assert should_grow(full, DISK, [full]) == (False, "the disk has no room after it")


def test_reads_partitions_from_sysfs(tmp_path):
    disk = tmp_path / "devices" / "vda"
    (disk / "vda4").mkdir(parents=True)
    for f, v in (("partition", "4"), ("start", "1843200"), ("size", "131072"),
                 ("uevent", "MAJOR=254\nDEVNAME=vda4\nPARTNAME=RANCHER_STATE\n")):
        (disk / "vda4" / f).write_text(v + "\n")
    cls = tmp_path / "class"
    cls.mkdir()
    (cls / "vda4").symlink_to(disk / "vda4")
    (cls / "vda").symlink_to(disk)
    part = grow.read_part("vda4", str(cls))
    assert part == Part("vda4", "vda", 4, 1843200, 131072, "RANCHER_STATE")
    assert grow.read_part("vda", str(cls)) is None
