"""`ros engine` is gone: nothing ever read the engine it wrote (the user Docker runs the bundled engine)."""

from rancheros.cli import main


def test_engine_is_not_a_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ROS_CMDLINE", str(tmp_path / "none"))
    assert main(["--config-dir", str(tmp_path / "conf"), "engine", "list"]) != 0
    assert "No such command 'engine'" in capsys.readouterr().err
