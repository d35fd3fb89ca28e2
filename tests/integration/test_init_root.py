"""root.move_tree on real directories: everything arrives intact, the source is emptied as it goes."""

from __future__ import annotations

import os
import stat

import pytest

from rancheros.init.root import move_tree, persistent_binds

pytestmark = pytest.mark.integration


def test_move_tree_moves_everything_once(tmp_path):
    src, dst = tmp_path / "initramfs", tmp_path / "newroot"
    (src / "usr/bin").mkdir(parents=True)
    (src / "proc").mkdir()
    (src / "proc/keep").write_text("skipped")
    (src / "var/log").mkdir(parents=True)
    big = os.urandom(3 << 20)
    (src / "usr/bin/busybox").write_bytes(big)
    os.chown(src / "usr/bin/busybox", 1000, 1000)
    os.chmod(src / "usr/bin/busybox", 0o4755)
    os.link(src / "usr/bin/busybox", src / "usr/bin/sh")
    os.symlink("busybox", src / "usr/bin/ls")
    os.mkfifo(src / "fifo")
    (src / "var/log/old").write_text("from the image")
    dst.mkdir()
    (dst / "var/log").mkdir(parents=True)
    (dst / "var/log/old").write_text("persistent")  # state data wins over the image

    stats = move_tree(str(src), str(dst), skip={str(src / "proc")})

    assert (dst / "usr/bin/busybox").read_bytes() == big
    st = os.stat(dst / "usr/bin/busybox")
    assert stat.S_IMODE(st.st_mode) == 0o4755 and (st.st_uid, st.st_gid) == (1000, 1000)
    assert os.stat(dst / "usr/bin/sh").st_ino == st.st_ino, "hard links stay links, not copies"
    assert os.readlink(dst / "usr/bin/ls") == "busybox"
    assert stat.S_ISFIFO(os.lstat(dst / "fifo").st_mode)
    assert (dst / "var/log/old").read_text() == "persistent"
    assert stats.kept == 1 and stats.bytes == len(big)
    # The source holds only what was skipped.
    left = sorted(str(p.relative_to(src)) for p in src.rglob("*"))
    assert left == ["proc", "proc/keep"]
    assert not (dst / "proc").exists()


def test_persistent_binds_from_state_fs():
    binds = dict(persistent_binds("/newroot"))
    assert binds["/newroot/mnt/state/var/lib/system-docker"] == "/newroot/var/lib/system-docker"
    assert set(binds.values()) == {"/newroot" + p for p in ("/var/lib/rancher", "/var/lib/system-docker",
                                                           "/var/lib/docker", "/home", "/opt", "/var/log")}
