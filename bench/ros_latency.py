#!/usr/bin/env python3
"""Median wall time of `ros config get rancher.state.dev` over 30 runs (prints the figure).

Usage: bench/ros_latency.py [ROS_BINARY]  (default: the venv's console script .venv/bin/ros)
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


def measure(ros: str, runs: int = RUNS) -> list[float]:
    """Wall seconds of each run, against a throw-away config dir holding one set value."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "ROS_CONFIG_DIR": tmp, "ROS_CMDLINE": os.devnull,
               "ROS_IMAGE_CONFIG": os.path.join(tmp, "none.yml")}
        subprocess.run([ros, "config", "set", "rancher.state.dev", "LABEL=BENCH"], env=env, check=True)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            out = subprocess.run([ros, "config", "get", "rancher.state.dev"], env=env, check=True,
                                 stdout=subprocess.PIPE).stdout
            times.append(time.perf_counter() - start)
            assert out == b"LABEL=BENCH\n", out
    return times


def main() -> int:
    ros = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / ".venv" / "bin" / "ros")
    times = measure(ros)
    print(f"ros config get rancher.state.dev ({ros}): median {statistics.median(times) * 1000:.1f} ms, "
          f"min {min(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms over {len(times)} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
