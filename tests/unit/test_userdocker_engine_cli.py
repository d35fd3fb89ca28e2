"""`ros engine list/switch` through the real config store."""

import yaml

from rancheros.cli import main


def test_switch_persists_and_list_marks_current(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ROS_CMDLINE", str(tmp_path / "none"))
    monkeypatch.setenv("ROS_IMAGE_CONFIG", str(tmp_path / "none.yml"))
    conf = str(tmp_path / "conf")
    assert main(["--config-dir", conf, "engine", "list"]) == 0
    assert capsys.readouterr().out == "current  default\n"
    assert main(["--config-dir", conf, "engine", "switch", "localhost:5000/docker:24"]) == 0
    local = yaml.safe_load((tmp_path / "conf/cloud-config.yml").read_text())
    assert local["rancher"]["docker"]["engine"] == "localhost:5000/docker:24"
    capsys.readouterr()
    assert main(["--config-dir", conf, "engine", "list"]) == 0
    assert capsys.readouterr().out == "disabled  default\ncurrent  localhost:5000/docker:24\n"
    assert main(["--config-dir", conf, "engine", "switch", "default"]) == 0
    assert yaml.safe_load((tmp_path / "conf/cloud-config.yml").read_text())["rancher"]["docker"]["engine"] == ""


def test_switch_refuses_a_bad_name(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ROS_CMDLINE", str(tmp_path / "none"))
    assert main(["--config-dir", str(tmp_path / "conf"), "engine", "switch", "two words"]) != 0
    assert "is not an engine name" in capsys.readouterr().err
    assert not (tmp_path / "conf/cloud-config.yml").exists()
