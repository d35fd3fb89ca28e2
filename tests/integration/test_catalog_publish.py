"""The catalog's images, built (or taken from the build cache), published with `build.py publish` to a
loopback registry (Debian's docker-registry) and pulled back by a real dockerd, which runs them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from rancheros import __version__  # noqa: E402
from rosbuild import steps  # noqa: E402

pytestmark = pytest.mark.integration
CONSOLE = f"rancheros/os-debianconsole:v{__version__}"
# vmtoolsd exits 1 off VMware, even for --version: the loader lists what it would load instead.
ADDONS = {f"rancheros/os-qemu-guest-agent:v{__version__}": (["qemu-ga", "--version"], "QEMU Guest Agent"),
          f"rancheros/os-openvmtools:v{__version__}": (["/lib64/ld-linux-x86-64.so.2", "--list", "/usr/bin/vmtoolsd"],
                                                       "libvmtools.so.0 =>")}


@pytest.fixture(scope="module")
def published(registry, system_docker):
    """The registry's address after `build.py build` (cached) and `build.py publish` to it."""
    from rosbuild import cli as build_cli
    art = build_cli.build()
    manifest = json.loads(art.manifest.read_text())["catalog"]
    assert "layers" in manifest[CONSOLE], manifest[CONSOLE]
    done = subprocess.run([sys.executable, str(ROOT / "build.py"), "publish", "--registry", registry],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"published {registry}/{CONSOLE}" in done.stdout
    pulled = []
    yield registry, manifest, pulled
    for ref in pulled:
        system_docker.images.remove(ref, force=True)


def _run(docker, image: str, cmd: list[str], **kw) -> str:
    return docker.containers.run(image, cmd, remove=True, network_mode="none", **kw).decode()


def test_registry_lists_the_console_tag(published):
    registry, _, _ = published
    with urllib.request.urlopen(f"http://{registry}/v2/rancheros/os-debianconsole/tags/list", timeout=10) as r:
        assert json.load(r) == {"name": "rancheros/os-debianconsole", "tags": [f"v{__version__}"]}


def test_debian_console_pulled_and_run(published, system_docker):
    registry, _, pulled = published
    ref = f"{registry}/{CONSOLE}"
    system_docker.images.pull(ref)
    pulled.append(ref)
    assert _run(system_docker, ref, ["cat", "/etc/debian_version"]).startswith("12")
    assert _run(system_docker, ref, ["apt-get", "--version"]).startswith("apt ")
    assert "deb.debian.org/debian bookworm main" in _run(system_docker, ref, ["cat", "/etc/apt/sources.list"])
    assert _run(system_docker, ref, ["sh", "-c", "ls /etc/ssh/ssh_host_* /etc/machine-id 2>/dev/null; true"]) == ""
    assert _run(system_docker, ref, ["stat", "-c", "%U %a", "/usr/bin/sudo"]).split() == ["root", "4755"]
    assert _run(system_docker, ref, ["stat", "-c", "%U:%G %a", "/etc/shadow"]).split() == ["root:shadow", "640"]
    assert system_docker.images.get(ref).attrs["Config"]["Cmd"] == ["/usr/lib/rancheros/ros", "console", "run"]


def test_frozen_ros_runs_in_the_debian_console(published, system_docker):
    registry, _, pulled = published
    ref = f"{registry}/{CONSOLE}"
    if ref not in pulled:
        system_docker.images.pull(ref)
        pulled.append(ref)
    frozen = steps.cache_dir() / "freeze" / "dist" / "ros"   # what build_cli.build() froze
    out = _run(system_docker, ref, ["/usr/lib/rancheros/ros", "--help"],
               volumes={str(frozen): {"bind": "/usr/lib/rancheros", "mode": "ro"}})
    assert "console" in out


@pytest.mark.parametrize("tag", sorted(ADDONS))
def test_addons_pulled_and_run(published, system_docker, tag):
    registry, manifest, pulled = published
    ref = f"{registry}/{tag}"
    system_docker.images.pull(ref)
    pulled.append(ref)
    assert len(manifest[tag]["layers"]) == 2   # os-base's layer, then the add-on's own
    cmd, expected = ADDONS[tag]
    out = _run(system_docker, ref, cmd, stderr=True)
    assert expected in out and "not found" not in out, out
