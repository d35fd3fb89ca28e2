"""Two lanes for the whole suite: `./build.py test` runs pytest-xdist with two workers.

The suite's time is QEMU boots, each one vCPU of TCG, so two can run at once on a 2-core machine.
The longest boot sequences, the Vagrant VM and the second checkout's build (LONG_LANE) run in one worker; every other test (the other boots, which
share one VM, and the integration and unit tests) runs in order in the other. The split is by test
id because xdist schedules in the controller, which never sees markers.
"""

from __future__ import annotations

import pytest

LONG_LANE = (
    "tests/e2e/test_init_boot.py::test_lifecycle_",
    "tests/e2e/test_cloudinit_datasources.py::",
    "tests/integration/test_reproducible_build.py::",   # no VM, but two builds' worth of CPU
    "tests/e2e/test_vagrant.py::",   # its own libvirt VM
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


class LocalRegistry:
    """Debian's docker-registry serving on loopback (a guest reaches it as 10.0.2.2:port); stop and start
    keep the port and the stored images."""

    def __init__(self, root):
        import shutil

        from rosbuild.qemu import free_port

        self.binary = shutil.which("docker-registry")
        self.root = root
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        self.proc = None
        (root / "config.yml").write_text(
            f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {root}/data\n"
            f"http:\n  addr: 127.0.0.1:{self.port}\n")

    def start(self) -> None:
        import subprocess
        import time
        import urllib.request

        log = open(self.root / "registry.log", "ab")
        self.proc = subprocess.Popen([self.binary, "serve", str(self.root / "config.yml")], stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://{self.addr}/v2/", timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"docker-registry did not start: {(self.root / 'registry.log').read_text()}")
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture(scope="session")
def local_registry(tmp_path_factory):
    """A LocalRegistry running for the session (tests may stop and start it)."""
    import shutil

    if shutil.which("docker-registry") is None:
        pytest.skip("docker-registry is not installed (Debian package docker-registry)")
    reg = LocalRegistry(tmp_path_factory.mktemp("registry"))
    reg.start()
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def registry(local_registry) -> str:
    """host:port of the session's loopback registry."""
    return local_registry.addr
