#!/usr/bin/env python3
"""The single developer entry point: test, build, run, publish.

    ./build.py test [PYTEST ARGS]   install what tests need, run every test
    ./build.py build [--ubuntu-archive URL]
                                    build dist/artifacts (ISO, kernel, initrd, images, catalog images)
    ./build.py run [--memory MB] [--ssh-port N]
                                    build if needed, boot the ISO in QEMU
    ./build.py publish --registry HOST:PORT [--insecure]
                                    push dist/artifacts/catalog-images.tar's images (skopeo)

It needs only the standard library to start: it installs the Debian packages
and the venv, then re-runs itself inside the venv for the real work.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from rosbuild import prereqs  # noqa: E402


def in_venv() -> bool:
    return Path(sys.prefix).resolve() == prereqs.VENV.resolve()


def cmd_test(args: list[str]) -> int:
    """Run pytest over tests/; 'no tests collected' is a failure, never a pass."""
    py = prereqs.venv_python()
    # the whole suite in two lanes (tests/conftest.py): two QEMU boots at a time
    args = args or ["-n", "2", "tests"]
    # --durations: where the suite's minutes go (the e2e boots) is printed with every run
    rc = subprocess.run([str(py), "-m", "pytest", "-ra", "--durations=15", *args], cwd=ROOT).returncode
    if rc == 5:
        print("build.py: pytest collected no tests: failing", file=sys.stderr)
        return 1
    return rc


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__)
        return 0
    command, rest = argv[0], argv[1:]
    if command not in ("test", "build", "run", "publish", "venv"):
        print(f"build.py: unknown command {command!r} (test, build, run, publish)", file=sys.stderr)
        return 2
    if not in_venv():
        prereqs.ensure_apt()
        py = prereqs.ensure_venv()
        if command == "venv":
            return 0
        if command == "test":
            return cmd_test(rest)
        os.execv(str(py), [str(py), str(ROOT / "build.py"), *argv])
    from rosbuild import cli as build_cli
    from rancheros.errors import RosError
    try:
        return build_cli.main(command, rest)
    except RosError as exc:   # product code the build runs (the installer, the catalog) failed: one line
        print(f"build.py: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
