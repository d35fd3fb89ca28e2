"""Image archives written without a Docker daemon: byte-identical rebuilds, and a real dockerd loads them.

Builds os-base and os-acpid (acpid's layer sits on the shared os-base layer) from the cached .debs.
"""

from __future__ import annotations

import json
import sys
import tarfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # rosbuild lives beside rancheros

from rosbuild import images, steps  # noqa: E402

pytestmark = pytest.mark.integration

NAMES = ("os-base", "os-acpid")


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    recipes = [r for r in images.load_all() if r.name in NAMES]
    out = tmp_path_factory.mktemp("archives")
    with steps.build_lock():  # the layers live in the shared build cache
        first = images.build_images(recipes, out / "a.tar", force=True)
        second = images.build_images(recipes, out / "b.tar", force=True)
    return first, second


def test_rebuild_is_byte_identical(archives):
    first, second = archives
    a, b = first[0].archive.read_bytes(), second[0].archive.read_bytes()
    assert len(a) > 1_000_000
    assert a == b


def test_shared_base_layer_stored_once(archives):
    first, _ = archives
    with tarfile.open(first[0].archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        blobs = [m.name for m in tar.getmembers() if m.name.startswith("blobs/sha256/") and m.isfile()]
        index = json.load(tar.extractfile("index.json"))
    base, acpid = ({m["RepoTags"][0]: m for m in manifest}[f"rancheros/{n}:v{images.__version__}"] for n in NAMES)
    assert acpid["Layers"][0] == base["Layers"][0]
    assert len(acpid["Layers"]) == 2
    assert len(blobs) == len(set(blobs))
    assert len(index["manifests"]) == 2  # the OCI view of the same blobs
    for m in manifest:
        for name in [m["Config"], *m["Layers"]]:
            assert name in blobs


def test_docker_load_and_run(archives, system_docker):
    first, _ = archives
    with open(first[0].archive, "rb") as f:
        loaded = system_docker.images.load(f.read())
    tags = sorted(t for img in loaded for t in img.tags)
    assert tags == sorted(i.tag for i in first)
    base_tag, acpid_tag = (i.tag for i in first)
    out = system_docker.containers.run(
        base_tag, ["sh", "-c", "cat /etc/os-release; /lib64/ld-linux-x86-64.so.2 --version | head -1; "
                               "wc -c < /etc/ssl/certs/ca-certificates.crt"], remove=True).decode()
    assert "RancherOS-Py" in out
    assert "GLIBC 2.36" in out               # glibc works (the bind-mounted ros binary needs it)
    assert int(out.strip().splitlines()[-1]) > 100_000
    out = system_docker.containers.run(acpid_tag, ["sh", "-c", "cat /etc/acpi/PWRF/00000080; which acpid"],
                                       remove=True).decode()
    assert "/usr/lib/rancheros/ros os shutdown" in out
    assert "acpid" in out.splitlines()[-1]   # busybox from the shared base layer
    for tag in (acpid_tag, base_tag):
        system_docker.images.remove(tag)
