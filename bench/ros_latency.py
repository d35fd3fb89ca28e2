#!/usr/bin/env python3
"""Median wall time of `ros config get rancher.state.dev` over 30 runs (prints the figure).

Usage: bench/ros_latency.py [ROS_BINARY ...]  (default: the venv's console script .venv/bin/ros)

Several binaries are measured interleaved, run by run, so a noisy host treats them alike. The
bare interpreter start (`python -I -S -c pass`) is measured the same way as a yardstick of the
machine's speed at that moment.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 30
ROOT = Path(__file__).resolve().parent.parent
YARDSTICK = f"{sys.executable} -I -S -c pass"


def _time(argv: list[str], env: dict, expect: bytes | None) -> float:
    start = time.perf_counter()
    out = subprocess.run(argv, env=env, check=True, stdout=subprocess.PIPE).stdout
    elapsed = time.perf_counter() - start
    assert expect is None or out == expect, out
    return elapsed


def measure(binaries: list[str], runs: int = RUNS) -> dict[str, list[float]]:
    """Wall seconds of each run per binary (and the yardstick), against a throw-away config dir."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "ROS_CONFIG_DIR": tmp, "ROS_CMDLINE": os.devnull,
               "ROS_IMAGE_CONFIG": os.path.join(tmp, "none.yml")}
        subprocess.run([binaries[0], "config", "set", "rancher.state.dev", "LABEL=BENCH"], env=env, check=True)
        times: dict[str, list[float]] = {b: [] for b in [*binaries, YARDSTICK]}
        for _ in range(runs):
            for ros in binaries:
                times[ros].append(_time([ros, "config", "get", "rancher.state.dev"], env, b"LABEL=BENCH\n"))
            times[YARDSTICK].append(_time(YARDSTICK.split(), env, None))
    return times


def main() -> int:
    binaries = sys.argv[1:] or [str(ROOT / ".venv" / "bin" / "ros")]
    for name, times in measure(binaries).items():
        what = name if name == YARDSTICK else f"ros config get rancher.state.dev ({name})"
        print(f"{what}: median {statistics.median(times) * 1000:.1f} ms, min {min(times) * 1000:.1f} ms, "
              f"max {max(times) * 1000:.1f} ms over {len(times)} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
