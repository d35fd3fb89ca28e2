"""The frozen binary: PyInstaller onedir of the `rancheros` package, built with the venv's python."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from rosbuild import steps

ENTRY = steps.ROOT / "rancheros" / "__main__.py"
# unittest and sqlite3 stay: pyroute2 imports unittest.mock and (ndb.schema) sqlite3; the network service needs them
EXCLUDES = ["tkinter", "_tkinter", "pydoc", "pydoc_data", "doctest", "lib2to3", "idlelib",
            "ensurepip", "venv", "distutils", "setuptools", "pip", "pytest", "_pytest", "hypothesis",
            "IPython", "test", "curses", "xmlrpc", "turtle", "turtledemo"]
HIDDEN = ["yaml", "click", "docker", "psutil", "jsonschema", "cryptography", "pyroute2"]


def options(workdir: Path) -> list[str]:
    opts = ["--noconfirm", "--onedir", "--name", "ros", "--strip", "--log-level", "WARN",
            "--collect-submodules", "rancheros", "--collect-data", "rancheros",
            # PID 1 starts before the kernel's random pool is ready: a random hash seed
            # would make Python abort (getrandom EAGAIN). Unbuffered output for the console.
            "--python-option", "hash_seed=0", "--python-option", "u",
            "--distpath", str(workdir / "dist"), "--workpath", str(workdir / "work"),
            "--specpath", str(workdir)]
    for m in EXCLUDES:
        opts += ["--exclude-module", m]
    for m in HIDDEN:
        opts += ["--hidden-import", m]
    return opts


def build() -> Path:
    """Freeze rancheros (skipped when its sources are unchanged); returns the onedir (ros + _internal)."""
    workdir = steps.cache_dir() / "freeze"
    out = workdir / "dist" / "ros"
    venv_stamp = Path(sys.prefix) / ".installed"
    stamp = steps.Stamp("freeze", steps.hash_data(
        steps.hash_files([steps.ROOT / "rancheros", steps.ROOT / "pyproject.toml", venv_stamp], steps.ROOT),
        options(Path("W")), sys.version))
    if stamp.fresh(out / "ros"):
        steps.say("frozen binary up to date")
        return out
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    steps.run([sys.executable, "-m", "PyInstaller", *options(workdir), str(ENTRY)],
              env=_env())
    stamp.done()
    return out


def _env() -> dict:
    import os
    env = dict(os.environ)
    env["PYTHONHASHSEED"] = "0"
    env["SOURCE_DATE_EPOCH"] = str(steps.SOURCE_DATE_EPOCH)
    return env
