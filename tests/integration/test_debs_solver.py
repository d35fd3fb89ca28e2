"""The build resolves package sets with apt's own solver, against the host's real apt archive.

The lock file's names were first resolved by a hand-written dependency walk; apt, holding what a
set leaves out, must pick the very same packages (versions move with Debian's updates).
"""

from __future__ import annotations

import shutil

import pytest

from rosbuild import debs

pytestmark = pytest.mark.skipif(shutil.which("apt-get") is None, reason="needs Debian's apt")


@pytest.mark.parametrize("name", ["image-os-udev", "image-os-console"])
def test_apt_resolves_a_set_to_the_packages_the_lock_pins(name):
    entry = debs.load_lock()["sets"][name]
    req = entry["request"]
    pset = debs.PackageSet(name, tuple(req["packages"]), tuple(req["exclude"]), tuple(req["only"]))
    resolved = debs.resolve(pset)
    assert sorted(resolved) == sorted(entry["packages"])
    assert not any(debs.excluded(n, pset) for n in resolved)
    assert all(d.sha256 and d.version for d in resolved.values())


def test_a_set_apt_cannot_resolve_names_the_recipe():
    with pytest.raises(debs.BuildError, match="recipe 'nope': unknown Debian packages"):
        debs.resolve(debs.PackageSet("nope", ("no-such-package-anywhere",)))
