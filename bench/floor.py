"""The floor of the boot comparison: the same kernel with a minimal initramfs
whose /init is a busybox shell script that mounts the basics, starts dockerd
and runs one container: the least any system can do.

Built from this host's Debian packages (busybox-static, docker.io, containerd,
runc, tini) and the kernel modules of our build; cached in the build cache.
"""

from __future__ import annotations

import gzip
import io
import shutil
import subprocess
import tarfile
from pathlib import Path

from rancheros import cpio
from rosbuild import elf, modules
from rosbuild.steps import SOURCE_DATE_EPOCH, Stamp, cache_dir, hash_data, hash_files, step

BINARIES = ["/bin/busybox", "/usr/sbin/dockerd", "/usr/bin/containerd", "/usr/bin/containerd-shim-runc-v2",
            "/usr/sbin/runc", "/usr/bin/docker", "/usr/bin/tini-static"]
MODULES = ["overlay"]

INIT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm /run /tmp /var/lib/docker /sys/fs/cgroup
mount -t devpts devpts /dev/pts; mount -t tmpfs tmpfs /dev/shm; mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp; mount -t tmpfs tmpfs /var/lib/docker; mount -t cgroup2 cgroup2 /sys/fs/cgroup
echo "BENCH init" > /dev/ttyS0
for m in MODULES; do modprobe $m; done
ln -sf /run /var/run
DOCKER_RAMDISK=true dockerd --bridge none --iptables=false --storage-driver overlay2 >/tmp/dockerd.log 2>&1 &
until docker info >/dev/null 2>&1; do sleep 0.05; done
echo "BENCH docker-ready" > /dev/ttyS0
docker import /opt/bench/rootfs.tar bench-busybox >/dev/null
docker run --rm bench-busybox true && echo "BENCH container-ran" > /dev/ttyS0
echo "BENCH mem-used-kb $(awk '/MemTotal/{t=$2}/MemAvailable/{a=$2}END{print t-a}' /proc/meminfo)" > /dev/ttyS0
exec sh </dev/ttyS0 >/dev/ttyS0 2>&1
"""


def busybox_rootfs_tar(dest: Path) -> Path:
    """A one-binary image rootfs (busybox-static), the container every system runs."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        data = Path("/bin/busybox").read_bytes()
        info = tarfile.TarInfo("bin/busybox")
        info.size, info.mode, info.mtime = len(data), 0o755, SOURCE_DATE_EPOCH
        tar.addfile(info, io.BytesIO(data))
        for applet in ("sh", "true", "echo"):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname, link.mtime = tarfile.SYMTYPE, "busybox", SOURCE_DATE_EPOCH
            tar.addfile(link)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(buf.getvalue())
    return dest


def build(kernel_tree: Path) -> Path:
    """The floor's gzip initramfs for the kernel in `kernel_tree` (extracted linux-image .deb)."""
    base = cache_dir() / "bench" / "floor"
    initrd = base / "initrd.gz"
    stamp = Stamp("bench-floor", hash_data(INIT, BINARIES, MODULES, str(kernel_tree),
                                           hash_files([Path(b) for b in BINARIES]), 1))
    if stamp.fresh(initrd):
        return initrd
    root = base / "root"
    with step("assemble the floor initramfs"):
        shutil.rmtree(root, ignore_errors=True)
        for d in ("usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "proc", "sys", "dev", "etc", "opt/bench",
                  "var", "tmp"):
            (root / d).mkdir(parents=True, exist_ok=True)
        for d in ("bin", "sbin", "lib", "lib64"):  # Debian's merged /usr
            (root / d).symlink_to(f"usr/{d}")
        files = [Path(b) for b in BINARIES]
        for f in files + sorted(elf.closure(files, Path("/"))):
            dest = root / str(f).lstrip("/")
            if dest.exists() or dest.is_symlink():
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            if f.is_symlink():
                dest.symlink_to(f.readlink())
            else:
                shutil.copy2(f, dest)
        (root / "usr/bin/docker-init").symlink_to("tini-static")
        (root / "usr/bin/runc").symlink_to("/usr/sbin/runc")
        modules.install(kernel_tree, MODULES, root)
        init = root / "init"
        init.write_text(INIT.replace("MODULES", " ".join(MODULES)))
        init.chmod(0o755)
        busybox_rootfs_tar(root / "opt/bench/rootfs.tar")
        raw = io.BytesIO()
        cpio.write_tree(root, raw, SOURCE_DATE_EPOCH, devices=[("dev/console", 0o20600, 5, 1)])
        initrd.write_bytes(gzip.compress(raw.getvalue(), compresslevel=6, mtime=0))
    stamp.done()
    return initrd


if __name__ == "__main__":
    import sys
    print(build(Path(sys.argv[1])))
    subprocess.run(["ls", "-la", str(cache_dir() / "bench" / "floor")])
