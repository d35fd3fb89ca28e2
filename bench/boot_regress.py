#!/usr/bin/env python3
"""Compare a boot against the committed profile (bench/results/boot_profile.json) and print regressions.

Usage: bench/boot_regress.py [--serial LOG ...] [--trace FILE ...] [--save] [--ratio R] [--seconds S]

A run is one or more boots: serial logs (by default those of bench/compare_boot.py's last run of "ours",
kept in the build cache) or `ros boot trace --json` outputs; with several, each step's end is the median.
A step regresses when it ends later than in the profile by more than both R (default 1.2x) and S (default
1.0 s): the TCG host is noisy. Exit status 1 when any step regressed. --save writes the run as the profile.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rancheros import boottrace  # noqa: E402
from rancheros.boottrace import Step  # noqa: E402

PROFILE = ROOT / "bench" / "results" / "boot_profile.json"


def default_logs() -> list[Path]:
    from rosbuild.steps import cache_dir

    return sorted((cache_dir() / "bench" / "serial").glob("ours-[0-9]*.log"))


def milestones_of(path: Path) -> list[boottrace.Milestone]:
    """A serial log, a JSON-lines trace, or `ros boot trace --json` output."""
    text = path.read_text(errors="replace")
    try:
        doc = json.loads(text)
        if isinstance(doc, dict) and "milestones" in doc:
            return [boottrace.Milestone(float(m["t"]), m["message"], m.get("level", "info"))
                    for m in doc["milestones"]]
    except ValueError:
        pass
    found = boottrace.parse_serial(text)
    return found if found else boottrace.parse_trace(text).milestones


def load_profile(path: Path) -> list[Step]:
    data = json.loads(path.read_text())
    return [Step(s["label"], float(s["ends_at"]), float(s["took"])) for s in data["steps"]]


def table(rows: list[boottrace.Row]) -> str:
    def num(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    lines = ["| step (ends with the line) | profile (s) | this run (s) | ratio | |", "|---|---|---|---|---|"]
    for r in rows:
        mark = "REGRESSION" if r.regression else ("new" if r.profile is None else ("missing" if r.run is None else ""))
        lines.append(f"| {r.label} | {num(r.profile)} | {num(r.run)} | "
                     f"{'-' if r.ratio is None else f'{r.ratio:.2f}x'} | {mark} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--serial", type=Path, action="append", default=[], help="a serial log of one boot")
    ap.add_argument("--trace", type=Path, action="append", default=[], help="`ros boot trace --json` output")
    ap.add_argument("--profile", type=Path, default=PROFILE)
    ap.add_argument("--save", action="store_true", help="write this run as the profile")
    ap.add_argument("--ratio", type=float, default=1.2)
    ap.add_argument("--seconds", type=float, default=1.0)
    args = ap.parse_args(argv)
    inputs = args.serial + args.trace or default_logs()
    if not inputs:
        print("boot_regress: no run to compare (no --serial/--trace, and no serial logs of bench/compare_boot.py)",
              file=sys.stderr)
        return 2
    run = boottrace.median_profile([milestones_of(p) for p in inputs])
    if args.save:
        args.profile.write_text(json.dumps({"runs": len(inputs), "steps": [s.__dict__ for s in run]}, indent=1) + "\n")
        print(f"profile of {len(inputs)} boot(s) written to {args.profile}")
        return 0
    rows = boottrace.compare(load_profile(args.profile), run, args.ratio, args.seconds)
    print(f"{len(inputs)} boot(s) against {args.profile.relative_to(ROOT) if args.profile.is_relative_to(ROOT) else args.profile}"
          f" (regression: later by more than {args.ratio}x and {args.seconds:.1f}s)\n")
    print(table(rows))
    late = [r for r in rows if r.regression]
    print(f"\n{len(late)} regression(s)" + (": " + "; ".join(f"{r.label} {r.profile:.1f} -> {r.run:.1f}s" for r in late)
                                           if late else ""))
    return 1 if late else 0


if __name__ == "__main__":
    sys.exit(main())
