"""Where each config layer lives; one value passed around instead of globals."""

import os
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULTS_FILE = PACKAGE_DIR / "os-config.yml"


@dataclass(frozen=True)
class ConfigPaths:
    """The files behind the five layers of DESIGN.md, lowest first."""

    config_dir: Path = Path("/var/lib/rancher/conf")
    defaults: Path = DEFAULTS_FILE
    image_config: Path = Path("/usr/share/rancheros/os-config.yml")
    cmdline: Path = Path("/proc/cmdline")
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def local(self) -> Path:
        """Layer 4, written by `ros config set`."""
        return self.config_dir / "cloud-config.yml"

    @property
    def datasource_dir(self) -> Path:
        """Layer 3, one file per datasource, written by cloud-init."""
        return self.config_dir / "cloud-config.d"

    @classmethod
    def from_env(cls, config_dir: str | os.PathLike | None = None) -> "ConfigPaths":
        """Defaults, overridable by ROS_CONFIG_DIR / ROS_IMAGE_CONFIG / ROS_CMDLINE (for dev machines and tests)."""
        env = os.environ
        return cls(
            config_dir=Path(config_dir or env.get("ROS_CONFIG_DIR", "/var/lib/rancher/conf")),
            image_config=Path(env.get("ROS_IMAGE_CONFIG", "/usr/share/rancheros/os-config.yml")),
            cmdline=Path(env.get("ROS_CMDLINE", "/proc/cmdline")),
        )
