"""Two lanes for the whole suite: `./build.py test` runs pytest-xdist with two workers.

The suite's time is QEMU boots, each one vCPU of TCG, so two can run at once on a 2-core machine.
The longest boot sequences and the second checkout's build (LONG_LANE) run in one worker; every other test (the other boots, which
share one VM, and the integration and unit tests) runs in order in the other. The split is by test
id because xdist schedules in the controller, which never sees markers.
"""

from __future__ import annotations

import pytest

LONG_LANE = (
    "tests/e2e/test_init_boot.py::test_lifecycle_",
    "tests/e2e/test_cloudinit_datasources.py::",
    "tests/integration/test_reproducible_build.py::",   # no VM, but two builds' worth of CPU
)


def lane_of(nodeid: str) -> str:
    return "long-boots" if nodeid.startswith(LONG_LANE) else "other"


@pytest.hookimpl(optionalhook=True)   # an xdist hook: without xdist nothing calls it
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class LaneScheduling(LoadScopeScheduling):
        """Each lane is one unit of work, so each goes whole to one worker, in collection order."""

        def _split_scope(self, nodeid: str) -> str:
            return lane_of(nodeid)

    return LaneScheduling(config, log)
