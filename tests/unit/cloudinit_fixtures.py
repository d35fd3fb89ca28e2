"""The cloud-init unit tests' shared fixture (a module of its own: a conftest.py here would shadow tests/integration's `conftest` import)."""

import pytest

from rancheros.cloudinit import apply
from rancheros.config.paths import ConfigPaths


@pytest.fixture
def cloudinit_env(tmp_path):
    """Config paths of our own and a cloud-init target (an empty root, a state dir) under tmp_path."""
    root = tmp_path / "root"
    root.mkdir()
    paths = ConfigPaths(config_dir=tmp_path / "conf", image_config=tmp_path / "none.yml",
                        cmdline=tmp_path / "cmdline")
    paths.cmdline.write_text("console=ttyS0\n")
    return paths, apply.Target(root=root, state_dir=tmp_path / "state")
