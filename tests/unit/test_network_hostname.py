"""Hostname from config: checked, set through the injected setter, written to /etc/hostname."""

import pytest

from rancheros.errors import ConfigError
from rancheros.network import hostname


def test_apply_sets_kernel_name_and_writes_etc_hostname(tmp_path):
    got = []
    hostname.apply("node-1.example", tmp_path, sethostname=got.append)
    assert got == ["node-1.example"]
    assert (tmp_path / "etc/hostname").read_text() == "node-1.example\n"


@pytest.mark.parametrize("bad", ["", "-lead", "under_score", "a" * 64, "sp ace"])
def test_invalid_names_are_refused(bad, tmp_path):
    with pytest.raises(ConfigError, match="hostname: .* is not a valid host name"):
        hostname.apply(bad, tmp_path, sethostname=lambda n: None)
    assert not (tmp_path / "etc/hostname").exists()


def test_apply_puts_the_name_on_127_0_1_1_in_etc_hosts(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/hosts").write_text("127.0.0.1\tlocalhost\n::1\tlocalhost\n10.0.0.5 db\n")
    hostname.apply("node-1.example", tmp_path, sethostname=lambda n: None)
    assert (tmp_path / "etc/hosts").read_text() == (
        "127.0.0.1\tlocalhost\n127.0.1.1\tnode-1.example node-1\n::1\tlocalhost\n10.0.0.5 db\n")


def test_a_new_name_replaces_the_old_line_and_nothing_else():
    first = hostname.hosts_text("127.0.0.1 localhost\n", "old")
    assert first == "127.0.0.1 localhost\n127.0.1.1\told\n"
    assert hostname.hosts_text(first, "new") == "127.0.0.1 localhost\n127.0.1.1\tnew\n"
    assert hostname.hosts_text(hostname.hosts_text(first, "new"), "new") == hostname.hosts_text(first, "new")


def test_an_empty_or_missing_hosts_gets_localhost_and_the_name(tmp_path):
    assert hostname.hosts_text("", "box") == "127.0.0.1\tlocalhost\n127.0.1.1\tbox\n"
    hostname.apply("box", tmp_path, sethostname=lambda n: None)
    assert (tmp_path / "etc/hosts").read_text() == "127.0.0.1\tlocalhost\n127.0.1.1\tbox\n"
