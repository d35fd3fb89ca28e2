"""The OS root: frozen binary, busybox, engine binaries with their libraries, modules, system images.

Everything the running system is, as one tree that osimage.py packs into the read-only image.
Layout follows Debian 12 (merged /usr): the command names link to /usr/lib/rancheros/ros; see
osimage/root.yml for the file list.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from rancheros import __version__
from rosbuild.errors import BuildError
from rosbuild import busybox, debs, elf, modules, steps

RECIPE = steps.ROOT / "osimage" / "root.yml"
ROS_LINKS = {
    "init": "usr/lib/rancheros/ros",
    "usr/bin/ros": "../lib/rancheros/ros",
    "usr/bin/system-docker": "../lib/rancheros/ros",
    "usr/sbin/reboot": "../lib/rancheros/ros",
    "usr/sbin/poweroff": "../lib/rancheros/ros",
    "usr/sbin/halt": "../lib/rancheros/ros",
    "usr/sbin/shutdown": "../lib/rancheros/ros",
}
DIRS = ["dev", "proc", "sys", "run", "tmp", "mnt", "root", "home", "opt", "etc", "var/lib", "var/log",
        "usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "usr/share/rancheros"]
@dataclass
class Recipe:
    packages: list[str]
    exclude: list[str]
    copy: list[str]
    copy_dirs: list[str]
    links: dict[str, str]
    busybox_skip: list[str]

    @classmethod
    def load(cls, path: Path = RECIPE) -> "Recipe":
        try:
            data = yaml.safe_load(path.read_text()) or {}
            return cls(data["packages"], data.get("exclude", []), data.get("copy", []),
                       data.get("copy_dirs", []), data.get("links", {}), data.get("busybox_skip", []))
        except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
            raise BuildError(f"{path}: {exc}") from exc

    def package_set(self) -> debs.PackageSet:
        return debs.PackageSet("initramfs", tuple(self.packages), tuple(self.exclude))  # the lock's name


def _copy_rel(src_root: Path, dest_root: Path, rel: Path) -> None:
    """Copy one path (file, symlink or directory tree) keeping its relative location."""
    src, dst = src_root / rel, dest_root / rel
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_symlink() or dst.is_file():
        dst.unlink()
    if src.is_symlink():
        dst.symlink_to(os.readlink(src))
    elif src.is_dir():
        shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=True)
    elif src.exists():
        shutil.copy2(src, dst)
    else:
        raise BuildError(f"{rel} is not in the extracted packages — fix osimage/root.yml")


def _canonical(root: Path, path: Path) -> Path:
    """Map a path under root through the merged-/usr links (lib/x -> usr/lib/x)."""
    rel = path.relative_to(root)
    if rel.parts and rel.parts[0] in ("bin", "sbin", "lib", "lib64"):
        rel = Path("usr", *rel.parts)
    return rel


def ca_bundle(pkgroot: Path) -> bytes:
    """/etc/ssl/certs/ca-certificates.crt as update-ca-certificates would write it (sorted)."""
    certs = sorted((pkgroot / "usr/share/ca-certificates").rglob("*.crt"))
    if not certs:
        raise BuildError("ca-certificates: no certificates under usr/share/ca-certificates")
    return b"".join(c.read_bytes().rstrip(b"\n") + b"\n" for c in certs)


def os_release(version: str = __version__) -> str:
    return (f'NAME="RancherOS-Py"\nID=rancheros\nID_LIKE=debian\nVERSION="{version}"\n'
            f'VERSION_ID={version}\nPRETTY_NAME="RancherOS-Py {version}"\n'
            'HOME_URL="https://github.com/rancher/os"\n')


def install_frozen(stage: Path, frozen: Path, pkgroot: Path) -> None:
    """The frozen binary, the system libraries it needs and its applet links (ROS_LINKS)."""
    dest = stage / "usr/lib/rancheros"
    shutil.copytree(frozen, dest, symlinks=True)
    internal = dest / "_internal"
    # The bootloader (ros) is linked before _internal is on any search path: its libraries
    # must be system ones; the libraries inside _internal may use each other.
    internal_elves = [p for p in internal.rglob("*") if p.is_file() and elf.is_elf(p)]
    needed = elf.closure([dest / "ros"], pkgroot) | elf.closure(internal_elves, pkgroot, provided=[internal])
    for lib in sorted(needed):
        _copy_rel(pkgroot, stage, _canonical(pkgroot, lib))
    for rel, target in ROS_LINKS.items():
        link = stage / rel
        if link.exists() or link.is_symlink():
            link.unlink()
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target)


def merged_usr(stage: Path) -> None:
    """A fresh `stage` with Debian's merged-/usr links (bin -> usr/bin ...)."""
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    for d in ("bin", "sbin", "lib", "lib64"):
        (stage / d).symlink_to(f"usr/{d}")


def assemble(stage: Path, pkgroot: Path, frozen: Path, kernel_tree: Path, module_names: list[str],
             manifest: dict, recipe: Recipe) -> dict:
    """Fill `stage` with the OS root (the system images are added by images.write_store); returns facts."""
    merged_usr(stage)
    for d in DIRS:
        (stage / d).mkdir(parents=True, exist_ok=True)
    (stage / "var/run").symlink_to("../run")
    # Engine and tools with their ELF closure, resolved inside the package tree.
    for rel in recipe.copy + recipe.copy_dirs:
        _copy_rel(pkgroot, stage, Path(rel))
    elf_files = [pkgroot / r for r in recipe.copy]
    for d in recipe.copy_dirs:
        if (pkgroot / d).is_dir():
            elf_files += [p for p in (pkgroot / d).rglob("*") if p.is_file()]
    for lib in sorted(elf.closure(elf_files, pkgroot)):
        _copy_rel(pkgroot, stage, _canonical(pkgroot, lib))
    for rel, target in recipe.links.items():
        link = stage / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.exists() or link.is_symlink():
            link.unlink()
        link.symlink_to(target)
    # The frozen binary and its links; its own libraries come from the package tree (glibc).
    install_frozen(stage, frozen, pkgroot)
    applets = busybox.link_applets(stage, "usr/bin/busybox", recipe.busybox_skip)
    # Kernel modules.
    kver, unknown = modules.install(kernel_tree, module_names, stage)
    if unknown:
        steps.warn(f"kernel modules neither built in nor present in {kver}: {', '.join(unknown)}")
    # Config, certificates, identity, images.
    (stage / "etc/ssl/certs").mkdir(parents=True)
    (stage / "etc/ssl/certs/ca-certificates.crt").write_bytes(ca_bundle(pkgroot))
    (stage / "etc/os-release").write_text(os_release(manifest["version"]))
    (stage / "usr/lib/os-release").write_text(os_release(manifest["version"]))
    (stage / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (stage / "etc/group").write_text("root:x:0:\ndocker:x:1102:\n")
    (stage / "etc/hostname").write_text("rancher\n")
    (stage / "etc/hosts").write_text("127.0.0.1\tlocalhost rancher\n::1\tlocalhost ip6-localhost\n")
    (stage / "etc/nsswitch.conf").write_text("passwd: files\ngroup: files\nhosts: files dns\n")
    (stage / "etc/mtab").symlink_to("../proc/self/mounts")
    share = stage / "usr/share/rancheros"
    (share / "os-config.yml").write_text(
        f"# image config layer, baked in by build.py\n# build: rancheros {manifest['version']}\n{{}}\n")
    (share / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return {"kernel_version": kver, "busybox_applets": applets}


def install_boot_files(stage: Path, vmlinuz: Path, initrd_base: Path, grub_dir: Path, cmdline: str) -> None:
    """What installs and upgrades take from the image (rancheros/install/grub.py BOOT_FILES): the kernel,
    the initrd without a checksum, GRUB's loaders and the installed kernel command line."""
    from rancheros.install import grub

    boot = stage / grub.BOOT_FILES.lstrip("/")
    shutil.rmtree(boot, ignore_errors=True)
    (boot / grub.GRUB_DIR).mkdir(parents=True)
    shutil.copyfile(vmlinuz, boot / "vmlinuz")
    shutil.copyfile(initrd_base, boot / "initrd")
    for f in sorted(grub_dir.iterdir()):
        shutil.copyfile(f, boot / grub.GRUB_DIR / f.name)
    (boot / "cmdline").write_text(cmdline + "\n")
