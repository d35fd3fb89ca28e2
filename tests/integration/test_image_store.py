"""System images run in place: the build's unpacked store, seeded into a fresh real dockerd, no `docker load`.

Builds os-base and os-acpid (acpid's layer on the shared base) from the cached .debs, unpacks them as
the OS image does, seeds a new data root and starts our SystemDocker on it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # rosbuild lives beside rancheros

from rancheros.manager.supervisor import seed_system_images  # noqa: E402
from rancheros.sysdocker import imagestore  # noqa: E402
from rancheros.sysdocker.daemon import SystemDocker, SystemDockerConfig  # noqa: E402
from rosbuild import images, steps  # noqa: E402

pytestmark = pytest.mark.integration
NAMES = ("os-base", "os-acpid")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    if os.geteuid() != 0 or shutil.which("dockerd") is None:
        pytest.skip("needs root and dockerd")
    recipes = [r for r in images.load_all() if r.name in NAMES]
    out = tmp_path_factory.mktemp("store")
    with steps.build_lock():  # the layers live in the shared build cache
        built = images.build_images(recipes, out / "a.tar")
    images.write_store(built, out / "store")
    return out / "store", built


def _daemon(root: str) -> SystemDocker:
    cfg = SystemDockerConfig(socket=f"{root}/sd.sock", data_root=f"{root}/data", exec_root=f"{root}/x",
                             pidfile=f"{root}/sd.pid", log_file=f"{root}/sd.log", preload_dir=f"{root}/none")
    return SystemDocker(cfg)


def _files(tree: Path) -> dict[str, int]:
    return {str(p.relative_to(tree)): p.lstat().st_mtime_ns for p in tree.rglob("*")}


def test_seeded_images_run_without_loading_and_the_store_stays_untouched(store):
    store_dir, built = store
    before = _files(store_dir)
    root = tempfile.mkdtemp(prefix="ros-store-", dir="/tmp")
    daemon = _daemon(root)
    try:
        seed_system_images(daemon.cfg.data_root, str(store_dir))
        again = imagestore.seed(store_dir, daemon.cfg.data_root)
        assert (again.layers, again.images, again.removed) == (0, 0, 0), "a second boot seeds nothing"
        daemon.start()
        client = daemon.wait_ready(60)
        assert sorted(t for i in client.images.list() for t in i.tags) == sorted(b.tag for b in built)
        base_tag, acpid_tag = (b.tag for b in built)
        out = client.containers.run(acpid_tag, ["sh", "-c", "echo changed > /etc/motd; cat /etc/motd; which acpid"],
                                    remove=True).decode()
        assert out.splitlines()[0] == "changed" and "acpid" in out
        out = client.containers.run(base_tag, ["sh", "-c", "cat /etc/os-release"], remove=True).decode()
        assert "RancherOS-Py" in out
        # diff dirs point into the read-only store, which containers' writes never reach
        layer = client.api.inspect_image(base_tag)["GraphDriver"]["Data"]
        assert layer and os.path.realpath(layer["UpperDir"]).startswith(str(store_dir))
        client.close()
    finally:
        daemon.stop(20)
    assert _files(store_dir) == before
    shutil.rmtree(root, ignore_errors=True)


def test_layers_of_an_older_os_image_are_unlinked(store, tmp_path):
    store_dir, built = store
    data = tmp_path / "data"
    imagestore.seed(store_dir, data)
    # the next OS image has only os-base: acpid's layer and image go, os-base stays
    newer = tmp_path / "newer"
    subprocess.run(["cp", "-a", "--reflink=auto", str(store_dir), str(newer)], check=True)
    full = imagestore.Store.load(newer)
    base = [i for i in full.images if "os-base" in i.tag]
    chains = set(imagestore.chain_ids([f"sha256:{built[0].layers[0].digest}"]))
    (newer / imagestore.MANIFEST).write_text(
        imagestore.Store([l for l in full.layers if l.chain in chains], base).to_json())
    report = imagestore.seed(newer, data)
    assert report.removed == 1
    layerdb = {p.name for p in (data / "image/overlay2/layerdb/sha256").iterdir()}
    assert layerdb == {c.split(":", 1)[1] for c in chains}
    repos = (data / "image/overlay2/repositories.json").read_text()
    assert "os-base" in repos and "os-acpid" not in repos
