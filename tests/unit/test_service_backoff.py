"""Crash loops made visible: Docker's backoff rule, measured delays, exit words, the watcher's line."""

from rancheros.sysdocker.status import (ServiceStatus, delay_after, format_status, next_delay, restart_delays,
                                        signal_of, summary_line)
from rancheros.sysdocker.watch import exit_line


def test_dockers_backoff_doubles_to_a_minute_and_resets_after_a_long_run():
    assert [delay_after(n) for n in (1, 2, 3, 4, 11, 50)] == [0.1, 0.2, 0.4, 0.8, 60.0, 60.0]
    assert next_delay(None, 0.5) == 0.1 and next_delay(0.4, 0.5) == 0.8 and next_delay(40, 1) == 60
    assert next_delay(12.8, 10.0) == 0.1   # ran ten seconds: stable again


def test_signals_and_delays_from_events():
    assert signal_of(137) == "SIGKILL" and signal_of(143) == "SIGTERM" and signal_of(3) is None
    assert signal_of(None) is None and signal_of(128) is None
    events = [{"Action": "start", "timeNano": 1_000_000_000}, {"Action": "die", "timeNano": 1_100_000_000},
              {"Action": "start", "timeNano": 1_200_000_000}, {"Action": "die", "timeNano": 1_300_000_000},
              {"Action": "start", "timeNano": 1_500_000_000}, {"Action": "die", "timeNano": 1_600_000_000}]
    assert restart_delays(list(reversed(events))) == [0.1, 0.2]


def info(restarting: bool, code: int, count: int, started: str, finished: str, policy: str = "always",
         limit: int = 0, running: bool = False) -> dict:
    return {"State": {"Restarting": restarting, "Running": running, "ExitCode": code, "StartedAt": started,
                      "FinishedAt": finished},
            "RestartCount": count, "HostConfig": {"RestartPolicy": {"Name": policy, "MaximumRetryCount": limit}}}


def test_the_watchers_line_names_the_exit_and_the_next_wait():
    quick = ("2026-12-05T01:00:00.000000000Z", "2026-12-05T01:00:00.500000000Z")
    line, delay = exit_line("network", info(True, 3, 3, *quick), 3, None)
    assert line == "service network exited with status 3; Docker restarts it in 0.4s (restart 3 since boot)"
    line, delay = exit_line("network", info(True, 3, 4, *quick), 3, delay)
    assert delay == 0.8 and "in 0.8s" in line
    line, _ = exit_line("console", info(True, 137, 1, "2026-12-05T01:00:00Z", "2026-12-05T01:00:30Z"), 137, 12.8)
    assert line == "service console was killed by SIGKILL; Docker restarts it in 0.1s (restart 1 since boot)"
    # inspect came after the restart: running again, the exit code is the die event's
    again = info(False, 0, 1, "2026-12-05T01:00:00.700000000Z", "2026-12-05T01:00:00.500000000Z", running=True)
    assert exit_line("crasher", again, 3, None)[0] == \
        "service crasher exited with status 3; Docker restarts it in 0.1s (restart 1 since boot)"
    assert exit_line("docker", info(False, 0, 0, *quick), 0, None) == (None, None)   # stopped on purpose
    line, _ = exit_line("docker", info(False, 1, 5, *quick, policy="on-failure", limit=5), 1, 1.6)
    assert line == "service docker exited with status 1; Docker gives up after 5 restarts"


def test_status_text_and_summary():
    s = ServiceStatus("crasher", "restarting", 6, "always", exit_code=3, started_at=1000.0, finished_at=1000.5,
                      delays=[0.1, 0.2, 0.4, 0.8, 1.6], logs=["boom"])
    text = format_status(s, now=1010.5)
    assert "state:      restarting (restart policy always)" in text
    assert "restarts:   6 since boot" in text and "last exit:  status 3 at" in text and "(10s ago)" in text
    assert "backoff:    0.1 0.2 0.4 0.8 1.6 s" in text and text.endswith("    boom")
    assert summary_line(s).split() == ["crasher", "restarting", "6", "status", "3", "1.6s"]
    assert ServiceStatus("x", "running", 0, "no").last_exit == "none"


def test_a_container_running_again_shows_how_it_last_ended():
    from rancheros.sysdocker.status import from_inspect, last_die_code

    die = {"Action": "die", "timeNano": 2_000_000_000, "Actor": {"Attributes": {"exitCode": "3"}}}
    earlier = {"Action": "die", "timeNano": 1_000_000_000, "Actor": {"Attributes": {"exitCode": "1"}}}
    assert last_die_code([die, earlier, {"Action": "start", "timeNano": 2_100_000_000}]) == 3
    assert last_die_code([{"Action": "start", "timeNano": 1}]) is None
    again = info(False, 0, 6, "2026-12-05T01:00:10Z", "2026-12-05T01:00:09Z", running=True)
    again["State"]["Status"] = "running"
    s = from_inspect("crasher", again, [0.1], [], died_with=3)
    assert s.exit_code == 3 and s.last_exit == "status 3"
    assert from_inspect("crasher", again, [0.1], []).exit_code == 0   # no die seen: what inspect says
