"""The boot trace: what PID 1's console shows, recorded alike; `ros boot trace`; the profile comparison."""

import io
import json
import logging

import pytest
from click.testing import CliRunner

from rancheros import boottrace, log as boot_log
from rancheros.cli import ros


@pytest.fixture
def logger():
    lg = logging.getLogger("rancheros.test-trace")
    yield lg
    logging.getLogger("rancheros").handlers[:] = []


def test_every_console_line_is_in_the_trace_with_the_same_time_and_text(tmp_path, logger):
    console = io.StringIO()
    path = tmp_path / "rancheros" / "boot-trace.jsonl"
    path.parent.mkdir()
    boot_log.setup(console, trace=str(path))
    logger.info("system-docker ready")
    logger.warning("service %s: not ready after %ds", "console", 120)
    shown = boottrace.parse_serial(console.getvalue())
    trace = boottrace.read_trace(path)
    assert [(m.t, m.message) for m in trace.milestones] == [(m.t, m.message) for m in shown]
    assert trace.milestones[1].message == "warning: service console: not ready after 120s"
    assert trace.milestones[1].level == "warning" and trace.boot_id is not None
    assert oct(path.stat().st_mode & 0o777) == "0o644"


def test_lines_before_the_directory_exists_are_kept_then_written(tmp_path, logger):
    path = tmp_path / "run" / "rancheros" / "boot-trace.jsonl"
    boot_log.setup(io.StringIO(), trace=str(path))
    logger.info("init started")
    assert not path.exists()
    path.parent.mkdir(parents=True)
    logger.info("state mounted")
    assert [m.message for m in boottrace.read_trace(path).milestones] == ["init started", "state mounted"]


def test_an_unwritable_trace_never_raises(tmp_path, logger, capsys):
    (tmp_path / "rancheros").write_text("a file where the directory should be")
    boot_log.setup(io.StringIO(), trace=str(tmp_path / "rancheros" / "boot-trace.jsonl"))
    logger.info("still booting")   # no exception, nothing on stderr
    assert capsys.readouterr().err == ""


def test_the_trace_is_bounded(tmp_path):
    (tmp_path / "d").mkdir()
    handler = boot_log.TraceHandler(path=str(tmp_path / "d" / "t.jsonl"), limit=5)
    for i in range(20):
        handler.emit(logging.makeLogRecord({"msg": f"line {i}", "levelno": logging.INFO, "levelname": "INFO"}))
    messages = [m.message for m in boottrace.read_trace(tmp_path / "d" / "t.jsonl").milestones]
    assert messages == ["line 0", "line 1", "line 2", "line 3", "boot trace cut at 5 lines"]


SAMPLE = "\n".join([json.dumps({"boot_id": "b-1"}),
                    json.dumps({"t": 3.6, "level": "info", "source": "rancheros", "message": "init started"}),
                    "{not json",
                    json.dumps({"t": 16.7, "level": "info", "source": "rancheros", "message": "system-docker ready"}),
                    json.dumps({"t": 34.3, "level": "info", "source": "rancheros",
                                "message": "services up (failed: x)"})]) + "\n"


def test_ros_boot_trace_text_and_json(tmp_path):
    path = tmp_path / "trace.jsonl"
    path.write_text(SAMPLE)
    res = CliRunner().invoke(ros, ["boot", "trace", "--file", str(path)])
    assert res.exit_code == 0, res.output
    assert "boot b-1" in res.output and "   16.70  +13.10  system-docker ready" in res.output
    assert "1 unreadable line(s)" in res.output
    res = CliRunner().invoke(ros, ["boot", "trace", "--json", "--file", str(path)])
    doc = json.loads(res.output[res.output.index("{"):])
    assert doc["boot_id"] == "b-1"
    assert [m["message"] for m in doc["milestones"]] == ["init started", "system-docker ready", "services up (failed: x)"]
    assert doc["milestones"][2]["step"] == "services up (failed: x)"
    res = CliRunner().invoke(ros, ["boot", "trace", "--file", str(tmp_path / "none")])
    assert res.exit_code != 0 and "no boot trace at" in str(res.exception)


def test_a_step_regresses_only_when_later_by_both_ratio_and_seconds():
    profile = [boottrace.Step("a", 10.0, 10.0), boottrace.Step("b", 20.0, 10.0), boottrace.Step("c", 3.0, 1.0)]
    run = [boottrace.Step("a", 11.0, 11.0), boottrace.Step("b", 28.0, 17.0), boottrace.Step("c", 3.9, 1.0),
           boottrace.Step("d", 30.0, 2.0)]
    rows = {r.label: r for r in boottrace.compare(profile, run)}
    assert not rows["a"].regression                   # 10 % later
    assert rows["b"].regression and rows["b"].ratio == pytest.approx(1.4)
    assert not rows["c"].regression                   # 30 % but under a second
    assert rows["d"].profile is None and not rows["d"].regression
    assert boottrace.compare(profile, run[:1])[1].run is None   # missing in the run
