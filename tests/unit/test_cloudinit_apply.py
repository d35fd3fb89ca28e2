"""Applying cloud-config items against a temporary root."""

import base64
import logging
import gzip
import os
import stat

import pytest

from rancheros.cloudinit import apply
from rancheros.cloudinit.userdata import Script


@pytest.fixture
def target(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    return apply.Target(root=root, state_dir=tmp_path / "state")


def test_write_files_encodings_modes_and_append(target):
    items = [
        {"path": "/etc/plain", "content": "hello\n", "permissions": "0640"},
        {"path": "/etc/b64", "content": base64.b64encode(b"bin").decode(), "encoding": "b64"},
        {"path": "/etc/gz", "content": base64.b64encode(gzip.compress(b"zipped")).decode(), "encoding": "gz+b64"},
        {"path": "/etc/plain", "content": "more\n", "append": True, "permissions": "0640"},
    ]
    assert apply.write_files(items, target) == 0
    root = target.root
    assert (root / "etc/plain").read_text() == "hello\nmore\n"
    assert stat.S_IMODE(os.stat(root / "etc/plain").st_mode) == 0o640
    assert (root / "etc/b64").read_bytes() == b"bin"
    assert (root / "etc/gz").read_bytes() == b"zipped"


def test_bad_items_fail_alone(target, caplog):
    items = [
        {"path": "/../../escape", "content": "x"},
        {"path": "/etc/enc", "content": "x", "encoding": "rot13"},
        {"path": "relative", "content": "x"},
        {"path": "/etc/mode", "content": "x", "permissions": "rw-r--r--"},
        {"path": "/etc/good", "content": "ok"},
    ]
    assert apply.write_files(items, target) == 4
    assert (target.root / "etc/good").read_text() == "ok"
    assert not (target.root.parent.parent / "escape").exists()
    text = caplog.text
    assert "outside the root filesystem" in text and "unknown encoding 'rot13'" in text
    assert "must be absolute" in text and "octal mode" in text


def test_scripts_run_once_per_instance(target):
    out = target.root / "count"
    script = Script("s.sh", f"#!/bin/sh\necho x >> {out}\n".encode())
    assert apply.run_scripts([script], "iid-1", target) == 0
    assert apply.run_scripts([script], "iid-1", target) == 0
    assert out.read_text() == "x\n"
    apply.run_scripts([script], "iid-2", target)
    assert out.read_text() == "x\nx\n"


def test_failing_script_is_counted_and_logged(target, caplog):
    caplog.set_level(logging.INFO, logger="rancheros")
    assert apply.run_scripts([Script("bad", b"#!/bin/sh\necho boom\nexit 3\n")], "i", target) == 1
    assert "failed (exit 3)" in caplog.text and "boom" in caplog.text


def test_runcmd_strings_and_lists(target):
    f = target.root / "ran"
    assert apply.run_commands([f"echo a > {f}", ["sh", "-c", f"echo b >> {f}"]], "i", target) == 0
    assert f.read_text() == "a\nb\n"
    assert apply.run_commands([f"echo c >> {f}"], "i", target) == 0
    assert f.read_text() == "a\nb\n"
