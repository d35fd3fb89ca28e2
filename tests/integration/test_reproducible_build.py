"""Two checkouts of one commit, at two paths, each with its own venv, build byte-identical artefacts.

The OS image, both initrds, the ISO and the catalog's images (the console bootstrapped again by
mmdebstrap: a layer's stamp keys on its build code's path). The second checkout gets its own build
cache, seeded with hard links to the first one's downloaded and extracted packages and system image
layers, but not its frozen binary: PyInstaller runs again, from the second venv (its path once
leaked into the frozen binary through pip's RECORD files).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from rosbuild import steps  # noqa: E402

pytestmark = pytest.mark.integration
ARTEFACTS = ("rancheros.img", "rancheros.img.sha256", "initrd-small", "initrd", "rancheros.iso", "catalog-images.tar")
SHARED = ("debs", "extract", "trees", "images", "kernel-depmod")   # inputs, not outputs, of the steps compared


def _run(cmd: list[str], cwd: Path, env: dict, timeout: float) -> None:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(cmd)} in {cwd} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def _checkout(dest: Path) -> Path:
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(dest)], check=True)
    return dest


def _cache_for(dest: Path) -> Path:
    """A build cache of its own that shares the package downloads and layer builds (hard links)."""
    src = steps.cache_dir()
    dest.mkdir(parents=True)
    for name in SHARED:
        if (src / name).is_dir():
            subprocess.run(["cp", "-al", str(src / name), str(dest / name)], check=True)
    (dest / "stamps").mkdir()
    for stamp in (src / "stamps").glob("*.stamp"):
        if stamp.name.startswith(("image-", "archive-", "tree-", "kernel")):
            shutil.copy2(stamp, dest / "stamps" / stamp.name)
    return dest


def _build(checkout: Path, cache: Path) -> Path:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    env.update(ROS_BUILD_CACHE=str(cache), ROS_QEMU_ACCEL="tcg")
    _run(["./build.py", "venv"], checkout, env, 1200)
    _run(["./build.py", "build"], checkout, env, 2400)
    return checkout / "dist" / "artifacts"


def test_two_checkouts_at_two_paths_build_the_same_bytes(tmp_path_factory):
    if os.geteuid() != 0 or shutil.which("mksquashfs") is None:
        pytest.skip("the build needs root and squashfs-tools (./build.py venv installs them)")
    work = Path(str(tmp_path_factory.mktemp("repro")))
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    if dirty:  # this checkout's own build would carry "+dirty": compare two clean clones instead
        first = _build(_checkout(work / "first-checkout"), _cache_for(work / "cache-1"))
    else:
        from rosbuild import cli as build_cli
        first = build_cli.build().iso.parent
    second = _build(_checkout(work / "elsewhere" / "second-checkout"), _cache_for(work / "cache-2"))
    for name in ARTEFACTS:
        a, b = (first / name).read_bytes(), (second / name).read_bytes()
        assert len(a) > 0 and a == b, f"{name} differs between {first} and {second}"
