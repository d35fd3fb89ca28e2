"""The frozen binary: PyInstaller onedir of the `rancheros` package, built with the venv's python.

Every `ros` call pays for interpreter start and imports (under TCG, seconds), so the freeze is
tuned for start-up: modules stay plain .pyc files (no PYZ archive to inflate), and the runtime
hooks for features we never use are left out (see SKIP_RUNTIME_HOOKS); rosbuild/ros.spec.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from rosbuild import steps

ENTRY = steps.ROOT / "rancheros" / "__main__.py"
SPEC = Path(__file__).with_name("ros.spec")
EXCLUDES = ["tkinter", "_tkinter", "pydoc", "pydoc_data", "doctest", "lib2to3", "idlelib", "unittest", "sqlite3",
            "ensurepip", "venv", "distutils", "setuptools", "pip", "pytest", "_pytest", "hypothesis",
            "IPython", "test", "curses", "xmlrpc", "turtle", "turtledemo"]
HIDDEN = ["yaml", "click", "docker", "psutil", "jsonschema", "cryptography"]
# PID 1 starts before the kernel's random pool is ready: a random hash seed would make Python
# abort (getrandom EAGAIN). Unbuffered output for the console.
PYTHON_OPTIONS = ["hash_seed=0", "u"]
# Each costs 10-30 ms of every start on the host: inspect's patches getsourcefile for archived
# modules and pkgutil's lists the PYZ archive (there is none); multiprocessing's serves the
# spawn start method, which nothing here uses.
SKIP_RUNTIME_HOOKS = {"pyi_rth_inspect", "pyi_rth_pkgutil", "pyi_rth_multiprocessing"}


def options(workdir: Path) -> list[str]:
    return ["--noconfirm", "--log-level", "WARN",
            "--distpath", str(workdir / "dist"), "--workpath", str(workdir / "work")]


def build() -> Path:
    """Freeze rancheros (skipped when its sources are unchanged); returns the onedir (ros + _internal)."""
    workdir = steps.cache_dir() / "freeze"
    out = workdir / "dist" / "ros"
    venv_stamp = Path(sys.prefix) / ".installed"
    stamp = steps.Stamp("freeze", steps.hash_data(
        steps.hash_files([steps.ROOT / "rancheros", steps.ROOT / "pyproject.toml", venv_stamp, SPEC,
                          Path(__file__)], steps.ROOT),
        options(Path("W")), sys.version))
    if stamp.fresh(out / "ros"):
        steps.say("frozen binary up to date")
        return out
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    steps.run([sys.executable, "-m", "PyInstaller", *options(workdir), str(SPEC)],
              env=_env())
    drop_install_records(out)
    stamp.done()
    return out


def drop_install_records(frozen: Path) -> list[Path]:
    """Remove what pip wrote about the venv it installed into (RECORD, direct_url.json, INSTALLER).

    RECORD hashes the venv's console scripts, whose first line is the venv's own path: kept, they
    made the frozen binary, and so the image, differ between two checkouts of one commit.
    Nothing reads them at run time (importlib.metadata needs METADATA and entry_points.txt).
    """
    gone = [p for pattern in ("RECORD", "direct_url.json", "INSTALLER")
            for p in (frozen / "_internal").glob(f"*.dist-info/{pattern}")]
    for p in gone:
        p.unlink()
    return gone


def _env() -> dict:
    import os
    env = dict(os.environ)
    env["PYTHONHASHSEED"] = "0"
    env["SOURCE_DATE_EPOCH"] = str(steps.SOURCE_DATE_EPOCH)
    return env
