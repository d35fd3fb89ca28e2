"""The general-purpose Linux of the boot comparison: Debian 12 with systemd,
docker.io and openssh-server, made with debootstrap into a raw ext4 disk image.

Cached under the build cache (never in git); rebuilt only when its recipe
changes. It boots with the same kernel as ours (its own initramfs-tools initrd
for that kernel version) and announces milestones on the serial console.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from rosbuild.steps import Stamp, cache_dir, hash_data, run, step

MILESTONE_SCRIPT = """#!/bin/sh
# Announce the benchmark milestones on the serial console.
say() { echo "BENCH $*" > /dev/ttyS0; }
exec 2>/dev/ttyS0
until docker info >/dev/null 2>&1; do sleep 0.05; done
say docker-ready
docker image inspect bench-busybox >/dev/null 2>&1 || docker import /opt/bench/rootfs.tar bench-busybox >/dev/null
docker run --rm bench-busybox true && say container-ran
say mem-used-kb $(awk '/MemTotal/{t=$2}/MemAvailable/{a=$2}END{print t-a}' /proc/meminfo)
"""

UNIT = """[Unit]
Description=Benchmark milestones
After=docker.service
Requires=docker.service

[Service]
Type=oneshot
ExecStart=/usr/local/bin/bench-milestones

[Install]
WantedBy=multi-user.target
"""

NETWORK = "[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n"


def apt_mirror() -> str:
    """The Debian mirror this host's apt uses (the only one reachable here)."""
    texts = [p.read_text() for p in sorted(Path("/etc/apt").glob("sources.list.d/*")) if p.is_file()]
    if Path("/etc/apt/sources.list").exists():
        texts.append(Path("/etc/apt/sources.list").read_text())
    for text in texts:
        m = re.search(r"^URIs:\s*(\S+/debian)\s*$", text, re.M) or re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)\s", text, re.M)
        if m:
            return m.group(1)
    raise SystemExit("gp_linux: no Debian mirror found in /etc/apt sources")


def build(kernel_deb: Path, busybox_tar: Path, ssh_pubkey: str) -> tuple[Path, Path]:
    """Return (disk image, initrd) of Debian 12 with the kernel package our build uses (`kernel_deb`)."""
    base = cache_dir() / "bench" / "gp-linux"
    image, initrd = base / "debian.img", base / "initrd.img"
    stamp = Stamp("bench-gp-linux", hash_data(kernel_deb.name, MILESTONE_SCRIPT, UNIT, NETWORK, ssh_pubkey, 3))
    if stamp.fresh(image, initrd):
        return image, initrd
    root = base / "root"
    bootstrap = Stamp("bench-gp-linux-root", hash_data(kernel_deb.name, 2))
    if not bootstrap.fresh(root / "boot"):
        _bootstrap(root, kernel_deb)
        bootstrap.done()
    _configure(root, busybox_tar, ssh_pubkey, initrd)
    with step("write the general-purpose disk image"):
        image.unlink(missing_ok=True)
        run(["mkfs.ext4", "-q", "-F", "-L", "debroot", "-d", str(root), str(image), "3G"])
    stamp.done()
    return image, initrd


def _bootstrap(root: Path, kernel_deb: Path) -> None:
    """debootstrap plus the very kernel package our build ships."""
    with step("debootstrap Debian 12 with systemd, docker.io, openssh-server"):
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        include = ["systemd-sysv", "docker.io", "openssh-server", "apparmor", "initramfs-tools", "linux-base", "kmod"]
        run(["debootstrap", "--variant=minbase", f"--include={','.join(include)}", "bookworm",
             str(root), apt_mirror()])
    with step(f"install {kernel_deb.name} into it"):
        shutil.copy(kernel_deb, root / "tmp" / kernel_deb.name)
        mounts = [("proc", "proc"), ("sysfs", "sys"), ("devtmpfs", "dev")]
        for fstype, where in mounts:
            run(["mount", "-t", fstype, fstype, str(root / where)])
        try:
            run(["chroot", str(root), "dpkg", "-i", f"/tmp/{kernel_deb.name}"])
        finally:
            for _, where in reversed(mounts):
                subprocess.run(["umount", "-l", str(root / where)])
        (root / "tmp" / kernel_deb.name).unlink()


def _configure(root: Path, busybox_tar: Path, ssh_pubkey: str, initrd: Path) -> None:
    """Milestone unit, DHCP, the SSH key and the container rootfs."""
    with step("configure the general-purpose image"):
        (root / "etc/fstab").write_text("/dev/vda / ext4 defaults 0 1\n")
        (root / "etc/hostname").write_text("debian\n")
        (root / "etc/systemd/network/10-dhcp.network").write_text(NETWORK)
        bin_ = root / "usr/local/bin/bench-milestones"
        bin_.write_text(MILESTONE_SCRIPT)
        bin_.chmod(0o755)
        (root / "etc/systemd/system/bench-milestones.service").write_text(UNIT)
        wants = root / "etc/systemd/system/multi-user.target.wants"
        wants.mkdir(parents=True, exist_ok=True)
        for unit, target in (("bench-milestones.service", "/etc/systemd/system/bench-milestones.service"),
                             ("systemd-networkd.service", "/lib/systemd/system/systemd-networkd.service")):
            link = wants / unit
            if not link.is_symlink():
                link.symlink_to(target)
        ssh = root / "root/.ssh"
        ssh.mkdir(mode=0o700, parents=True, exist_ok=True)
        (ssh / "authorized_keys").write_text(ssh_pubkey + "\n")
        (root / "opt/bench").mkdir(parents=True, exist_ok=True)
        shutil.copy(busybox_tar, root / "opt/bench/rootfs.tar")
        shutil.copy(next((root / "boot").glob("initrd.img-*")), initrd)
        shutil.rmtree(root / "var/cache/apt/archives", ignore_errors=True)


if __name__ == "__main__":
    import sys
    print(build(Path(sys.argv[1]), Path(sys.argv[2]), "ssh-ed25519 AAAA none"))
