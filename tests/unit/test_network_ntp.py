"""ntpd.conf from rancher.network.ntp.servers."""

from rancheros.network.ntp import conf_text


def test_servers_each_on_a_line():
    assert conf_text(["a.example", "b.example"]) == "servers a.example\nservers b.example\n"


def test_defaults_when_unset_or_empty():
    assert conf_text(None) == conf_text([]) == conf_text([" "]) == "servers pool.ntp.org\n"
