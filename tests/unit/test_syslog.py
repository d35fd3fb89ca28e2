"""The syslog service's pure parts: logrotate's config and the supervised commands."""

from pathlib import Path

from rancheros.syslog.run import SyslogSettings, commands, link_dev_log, logrotate_conf


def test_logrotate_conf_names_the_file_size_and_count():
    conf = logrotate_conf(SyslogSettings(log_file=Path("/var/log/messages"), max_size="64k", keep=3))
    assert conf.startswith("/var/log/messages {\n")
    assert "    size 64k\n" in conf and "    rotate 3\n" in conf and "missingok" in conf


def test_commands_with_and_without_klogd():
    s = SyslogSettings(log_file=Path("/x/messages"))
    assert commands(s) == {"syslogd": ["syslogd", "-n", "-O", "/x/messages"], "klogd": ["klogd", "-n"]}
    assert list(commands(SyslogSettings(klogd=False))) == ["syslogd"]


def test_dev_log_link_replaces_whatever_was_there(tmp_path):
    dev_log = tmp_path / "log"
    dev_log.write_text("stale")
    link_dev_log(Path("/run/log.sock"), dev_log)
    assert dev_log.is_symlink() and str(dev_log.readlink()) == "/run/log.sock"
