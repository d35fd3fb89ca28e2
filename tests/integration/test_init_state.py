"""State disk discovery and autoformat against real disk images (files probed by blkid, mkfs.ext4).

Only a blank device listed in autoformat is formatted; everything holding data
stays byte-identical and the log says why.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import struct
import subprocess

import pytest

from rancheros.system import blockdev
from rancheros.init.state import StateSettings, resolve

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (shutil.which("blkid") and shutil.which("mkfs.ext4")),
                       reason="needs util-linux blkid and e2fsprogs"),
]

SIZE = 32 << 20
LABEL = "RANCHER_TST"  # not the real label: the host's own disks must never match


def _image(path, kind: str) -> str:
    with open(path, "wb") as f:
        f.truncate(SIZE)
    if kind == "ext4-nolabel":
        subprocess.run(["mkfs.ext4", "-F", "-q", str(path)], check=True)
    elif kind == "ext4-state":
        subprocess.run(["mkfs.ext4", "-F", "-q", "-L", LABEL, str(path)], check=True)
    elif kind == "random":
        with open(path, "r+b") as f:
            f.write(os.urandom(1 << 20))
    elif kind == "mbr":
        # One Linux partition from sector 2048 to the end, written as the MBR spec lays it out.
        entry = struct.pack("<B3sB3sII", 0, b"\0\0\0", 0x83, b"\0\0\0", 2048, SIZE // 512 - 2048)
        with open(path, "r+b") as f:
            f.seek(440)
            f.write(struct.pack("<I", 0x1234ABCD) + b"\0\0" + entry + b"\0" * 48 + b"\x55\xaa")
    return str(path)


def _sha(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _settings(*autoformat: str) -> StateSettings:
    return StateSettings(dev=f"LABEL={LABEL}", autoformat=tuple(autoformat), wait=False)


def test_data_disks_untouched_blank_one_formatted(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="rancheros")
    kept = {kind: _image(tmp_path / f"{kind}.img", kind) for kind in ("ext4-nolabel", "random", "mbr")}
    before = {k: _sha(p) for k, p in kept.items()}
    blank = _image(tmp_path / "blank.img", "blank")
    files = [*kept.values(), blank]

    dev = resolve(_settings(*files), scan_only=files)

    assert dev is not None and dev.device == blank and dev.formatted and dev.fstype == "ext4"
    assert {k: _sha(p) for k, p in kept.items()} == before
    fresh = blockdev.scan([blank])[0]
    assert fresh["TYPE"] == "ext4" and fresh["LABEL"] == LABEL
    text = caplog.text
    assert f"state: not formatting {kept['ext4-nolabel']}: it holds a ext4 file system without a label" in text
    assert f"state: not formatting {kept['random']}: it holds data" in text
    assert f"state: not formatting {kept['mbr']}: it has a dos partition table" in text


def test_labelled_state_found_not_reformatted_and_unlisted_blank_ignored(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="rancheros")
    state = _image(tmp_path / "state.img", "ext4-state")
    blank = _image(tmp_path / "blank.img", "blank")
    state_sum, blank_sum = _sha(state), _sha(blank)

    dev = resolve(_settings(), scan_only=[state, blank])
    assert dev is not None and dev.device == state and not dev.formatted
    assert _sha(state) == state_sum

    assert resolve(_settings(), scan_only=[blank]) is None  # blank, but not listed in autoformat
    assert _sha(blank) == blank_sum
