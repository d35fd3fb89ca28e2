"""The multi-call binary picks its applet from argv[0] or the first argument."""

import pytest

from rancheros.__main__ import applet_for


@pytest.mark.parametrize("argv0,args,want", [
    ("/init", [], ("init", [])),
    ("/usr/bin/ros", ["config", "get", "x"], ("ros", ["config", "get", "x"])),
    ("/usr/bin/system-docker", ["ps"], ("system-docker", ["ps"])),
    ("/usr/lib/rancheros/ros", ["network", "up"], ("ros", ["network", "up"])),
    ("/usr/sbin/reboot", [], ("reboot", [])),
    ("python -m rancheros".split()[-1], ["system-docker", "ps"], ("system-docker", ["ps"])),
])
def test_applet_for(argv0, args, want):
    assert applet_for(argv0, args) == want
