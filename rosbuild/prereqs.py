"""Host prerequisites: Debian packages and the project venv (stdlib only).

build.py imports this before any venv exists, so it must not need anything
outside the standard library.
"""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"

# What builds and tests need on the host, by Debian package name.
APT_PACKAGES = [
    "python3-venv", "python3-dev", "gcc", "binutils",
    "docker.io", "containerd", "runc", "tini",
    "qemu-system-x86", "qemu-utils", "ovmf",
    "xorriso", "isolinux", "syslinux-common", "grub-pc-bin", "grub-efi-amd64-bin", "mtools",
    "busybox-static", "e2fsprogs", "dosfstools", "cpio", "zstd", "xz-utils", "kmod",
    "squashfs-tools",  # the OS image (rosbuild/osimage.py)
    "openssh-client", "openssh-server", "iproute2", "dpkg-dev", "ca-certificates", "genisoimage",
    "chrony",  # tests/e2e: the NTP server the guest's ntp service syncs from (never sets this clock)
    "logrotate",  # tests/integration/test_syslog_rotation.py runs `ros syslog run` on this machine
    "debootstrap",  # bench/compare_boot.py builds its general-purpose Linux
    "docker-registry",  # integration tests serve add-on images from a loopback registry
    "mmdebstrap",  # the catalog's consoles: whole Debian roots (rosbuild/bootstrap.py)
    "skopeo",  # build.py publish: pushes the catalog's images without a Docker daemon
    "fdisk", "mount",  # rancheros.raw: the installer partitions (sfdisk) and loop-mounts (losetup) on this host
    # the Vagrant boxes (Vagrant's insecure key) and their e2e: libvirtd in a network namespace of the test's
    "vagrant", "vagrant-libvirt", "libvirt-daemon-system", "libvirt-daemon-driver-qemu", "libvirt-clients",
    "dnsmasq-base", "iptables", "rsync",  # rsync: the e2e synced folder
]


def _missing(packages: list[str]) -> list[str]:
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package} ${db:Status-Status}\n", *packages],
        capture_output=True, text=True,
    ).stdout
    installed = {line.split()[0] for line in out.splitlines() if line.endswith(" installed")}
    return [p for p in packages if p not in installed]


def ensure_apt(packages: list[str] = APT_PACKAGES) -> None:
    """Install the Debian packages that are missing (needs root)."""
    missing = _missing(packages)
    if not missing:
        return
    if os.geteuid() != 0:
        sys.exit(f"build.py: missing Debian packages (run as root to install): {' '.join(missing)}")
    print(f"build.py: installing Debian packages: {' '.join(missing)}", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
                   check=True, env=env, stdout=subprocess.DEVNULL)


def venv_python() -> Path:
    return VENV / "bin" / "python"


def ensure_venv(extras: str = "test,build,bench") -> Path:
    """Create or update .venv with the project installed editable; skip when pyproject is unchanged."""
    base = Path("/usr/bin/python3") if Path("/usr/bin/python3").exists() else Path(sys.executable)
    py = venv_python()
    if not py.exists():
        print(f"build.py: creating venv {VENV}", flush=True)
        subprocess.run([str(base), "-m", "venv", str(VENV)], check=True)
    stamp = VENV / ".installed"
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    if not stamp.exists() or stamp.read_text() != want:
        print("build.py: installing the project and its dependencies into the venv", flush=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "-e", f"{ROOT}[{extras}]"], check=True)
        stamp.write_text(want)
    return py
