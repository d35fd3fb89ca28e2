"""bench/boot_profile.py: steps between init's console lines, matched across boots."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import boot_profile  # noqa: E402

LOG_A = """[    0.000000] Linux version 6.1
[   20.00] rancheros: init started
[   30.50] rancheros: system-docker: starting dockerd --host x
[   31.00] rancheros: system-docker ready
[   80.00] rancheros: image rancheros/os-base:v0.1.0, rancheros/os-udev:v0.1.0 loaded in 49.00s
[   90.00] rancheros: services up
[   90.10] rancheros: init (pid 1) resident memory: 20.0 MiB
[  200.00] rancheros: init started
"""
LOG_B = LOG_A.replace("[   31.00] rancheros: system-docker ready", "[   35.00] rancheros: system-docker ready")


def test_steps_take_the_time_since_the_line_before():
    steps = boot_profile.steps(LOG_A)
    assert [s.label for s in steps] == ["init started", "system-docker ready",
                                        "image archive loaded in Ns", "services up"]
    assert [round(s.took, 2) for s in steps] == [20.0, 11.0, 49.0, 10.0]   # the dockerd line is skipped


def test_an_archive_already_loaded_is_one_step_too():
    text = "[   54.30] rancheros: image rancheros/os-base:v0.1.0, rancheros/os-udev:v0.1.0 already loaded\n"
    assert [s.label for s in boot_profile.steps(text)] == ["image archive already loaded"]


def test_median_profile_matches_steps_by_label():
    prof = {s.label: s for s in boot_profile.median_profile([LOG_A, LOG_B, LOG_B])}
    assert prof["system-docker ready"].took == 15.0
    assert prof["system-docker ready"].ends_at == 35.0
    assert "| services up | 90.0 | 10.0 |" in boot_profile.markdown(list(prof.values()), 3)
