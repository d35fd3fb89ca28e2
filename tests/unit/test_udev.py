"""The udev service's coldplug: which events are replayed, and failures counted, not raised."""

from rancheros.udev import run


def test_coldplug_replays_subsystems_then_devices_then_settles():
    cmds = run.coldplug_commands(45)
    assert cmds[0][-2:] == ["--type=subsystems", "--action=add"]
    assert cmds[1][-2:] == ["--type=devices", "--action=add"]
    assert cmds[2] == ["udevadm", "settle", "--timeout=45"]


def test_coldplug_counts_each_failed_step(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no udevadm here: every step fails with one log line
    assert run.coldplug(1) == 3
