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
