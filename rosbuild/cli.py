"""`build.py build|run|publish`: the build pipeline, the QEMU launcher, the catalog's push.

    build [--update-lock] [--compression zstd|xz|gzip] [--version V] [--ubuntu-archive URL]
    run [--memory MB] [--ssh-port N] [--no-build] [--uefi]
    publish --registry HOST:PORT [--insecure]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping, Optional

import yaml

from rancheros import __version__
from rosbuild.errors import BuildError
from rancheros import cpio
from rancheros.install import grub, installer
from rosbuild import (bootloader, catalog, debs, diskimage, freeze, images, initramfs, iso, osimage, publish, qemu,
                      rootfs, steps, vagrantbox)

KERNEL_RECIPE = steps.ROOT / "kernel" / "kernel.yml"
DEFAULT_COMPRESSION = "zstd"
INSTALLED_ARGS = "console=tty0 console=ttyS0"   # an installed system's kernel arguments beside the recipe's


@dataclass
class Artifacts:
    """What `build` produces (paths under dist/artifacts) and the default kernel command line."""

    iso: Path
    vmlinuz: Path
    initrd: Path
    manifest: Path
    cmdline: str
    image: Path
    catalog: Path = steps.DIST / catalog.ARCHIVE_NAME   # the catalog's images (docker-archive)

    @property
    def initrd_small(self) -> Path:
        """The initrd without the image, for boots that find it on a medium (the ISO's own)."""
        return self.iso.with_name("initrd-small")

    @property
    def live_cmdline(self) -> str:
        """The command line of the ISO's default (live) entry, for direct -kernel boots."""
        return iso.entries(self.cmdline)[0].cmdline


def kernel_recipe() -> dict:
    try:
        data = yaml.safe_load(KERNEL_RECIPE.read_text())
        data["module_list"] = [m for group in data["modules"].values() for m in group]
        data["initrd_modules"] = list(data["initrd_modules"])
        return data
    except (OSError, yaml.YAMLError, KeyError, AttributeError) as exc:
        raise BuildError(f"{KERNEL_RECIPE}: {exc}") from exc


def _merged_tree(name: str, trees: list[Path], lock: list[debs.Deb]) -> Path:
    """One root holding several extracted packages (cached, rebuilt when the package list changes)."""
    out = steps.cache_dir() / "trees" / name
    stamp = steps.Stamp(f"tree-{name}", steps.hash_data([(d.name, d.version) for d in lock]))
    if not stamp.fresh(out):
        shutil.rmtree(out, ignore_errors=True)
        debs.merge_trees(trees, out)
        stamp.done()
    return out


def build(update_lock: bool = False, compression: str = DEFAULT_COMPRESSION, version: str = __version__,
          settings: Optional[Mapping[str, str]] = None) -> Artifacts:
    """Build vmlinuz, initrd, images, the ISO and the catalog's images into dist/artifacts; unchanged inputs
    are not rebuilt. `settings`: the catalog's build settings (catalog.settings_from; default: environment).

    Concurrent builds (several test sessions) wait for each other on a lock in the cache.
    """
    with steps.build_lock():
        return _build(update_lock, compression, version,
                      catalog.settings_from({}) if settings is None else settings)


def source_commit() -> str:
    """The commit being built (with +dirty for uncommitted changes), for `ros os version`."""
    try:
        head = steps.run(["git", "-C", steps.ROOT, "rev-parse", "HEAD"]).strip()
        dirty = steps.run(["git", "-C", steps.ROOT, "status", "--porcelain", "--untracked-files=no"]).strip()
    except (BuildError, OSError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def _build(update_lock: bool, compression: str, version: str, settings: Mapping[str, str]) -> Artifacts:
    out = steps.DIST
    out.mkdir(parents=True, exist_ok=True)
    krec = kernel_recipe()
    with steps.step("kernel package"):
        kset = debs.PackageSet("kernel", (krec["package"],), only=("linux-image-*",))
        kdebs, ktrees = debs.fetch_and_extract(kset, update_lock)
        ktree = next(t for d, t in zip(kdebs, ktrees) if d.name != krec["package"])
        vmlinuz_src = next((ktree / "boot").glob("vmlinuz-*"))
    with steps.step("OS root packages"):
        recipe = rootfs.Recipe.load()
        idebs, itrees = debs.fetch_and_extract(recipe.package_set(), update_lock)
        pkgroot = _merged_tree("initramfs", itrees, idebs)
    with steps.step("frozen binary (PyInstaller)"):
        frozen = freeze.build()
    with steps.step("system images"):
        built = images.build_all(update_lock)
        images.check_frozen_binary(frozen)
    with steps.step("catalog images"):   # not in the OS image: its manifest entry is added last
        catalog_built = catalog.build(frozen, settings, update_lock, out / catalog.ARCHIVE_NAME)
    manifest = {
        "name": "RancherOS-Py", "version": version, "commit": source_commit(),
        "kernel": {d.name: d.version for d in kdebs},
        "os_packages": {d.name: d.version for d in idebs},
        "images": {i.tag: {"packages": i.packages} for i in built},
        "engine": {name: v for d in idebs for name, v in [(d.name, d.version)]
                   if name in ("docker.io", "containerd", "runc", "tini")},
    }
    # Outputs live in this clone's dist/: stamps are per clone (the cache may serve several).
    clone = steps.hash_data(str(out))[:12]
    work = steps.cache_dir() / "clones" / clone
    work.mkdir(parents=True, exist_ok=True)
    image = out / "rancheros.img"
    code = steps.hash_files([rootfs.RECIPE, *(Path(m.__file__) for m in (rootfs, images, osimage, initramfs,
                                                                         bootloader, cpio, installer, grub)),
                             Path(steps.__file__).parent / "modules.py"])
    layers = steps.hash_data([(i.tag, [l.digest for l in i.layers], i.config.decode()) for i in built])
    facts_file = work / "facts.json"
    base = work / "initrd-base"   # the initrd without the image's checksum: the image carries it
    ifacts_file = work / "initrd-facts.json"
    with steps.step(f"initrd ({compression})"):
        stamp = steps.Stamp(f"initrd-{clone}", steps.hash_data(krec, steps.hash_files([frozen]), code,
                                                               compression, version, manifest["os_packages"]))
        if stamp.fresh(base, ifacts_file):
            steps.say("initrd up to date")
        else:
            stage = steps.cache_dir() / "initrd-stage"
            ifacts = initramfs.assemble(stage, pkgroot, frozen, ktree, krec["initrd_modules"],
                                        rootfs.os_release(version))
            raw, packed = initramfs.pack(stage, base, compression)
            ifacts.update(initrd_uncompressed=raw, initrd_compressed=packed)
            ifacts_file.write_text(json.dumps(ifacts))
            stamp.done()
    grub_dir = work / "grub"
    with steps.step("bootloader (GRUB)"):
        stamp = steps.Stamp(f"grub-{clone}", steps.hash_data(code, bootloader.host_versions()))
        if stamp.fresh(grub_dir / grub.CORE_IMG, grub_dir / grub.ESP_IMG):
            steps.say("GRUB up to date")
        else:
            bootloader.disk_files(grub_dir, steps.cache_dir() / "grub-work")
            stamp.done()
    installed_cmdline = f"{krec.get('cmdline', '')} {INSTALLED_ARGS}".strip()
    with steps.step("OS image (squashfs)"):
        stamp = steps.Stamp(f"osimage-{clone}", steps.hash_data(manifest, krec, steps.hash_files([frozen]),
                                                                layers, code, steps.hash_files([base, vmlinuz_src]),
                                                                steps.hash_files(sorted(grub_dir.iterdir()))))
        if stamp.fresh(image, facts_file):
            steps.say("OS image up to date")
            facts = json.loads(facts_file.read_text())
        else:
            stage = steps.cache_dir() / "os-root-stage"
            facts = rootfs.assemble(stage, pkgroot, frozen, ktree, krec["module_list"], manifest, recipe)
            images.write_store(built, stage / "usr/share/rancheros/store")
            rootfs.install_boot_files(stage, vmlinuz_src, base, grub_dir, installed_cmdline)
            facts["image_sha256"] = osimage.build(stage, image)
            facts_file.write_text(json.dumps(facts))
            stamp.done()
    facts.update(json.loads(ifacts_file.read_text()))
    small = out / "initrd-small"   # the initrd without the image: the ISO's, and any boot from a medium
    initrd = out / "initrd"
    with steps.step("initrd with the image's checksum"):
        initramfs.with_checksum(base, facts["image_sha256"], small)
        stamp = steps.Stamp(f"initrd-image-{clone}", steps.hash_files([small, image]))
        if not stamp.fresh(initrd):
            initramfs.with_image(small, image, initrd)
            stamp.done()
    vmlinuz = out / "vmlinuz"
    shutil.copy2(vmlinuz_src, vmlinuz)
    iso_path = out / "rancheros.iso"
    cmdline = krec.get("cmdline", "")
    with steps.step("ISO"):
        istamp = steps.Stamp(f"iso-{clone}", steps.hash_data(steps.hash_files([vmlinuz, small, image]), cmdline,
                                                             steps.hash_files([Path(iso.__file__)])))
        if istamp.fresh(iso_path):
            steps.say("ISO up to date")
        else:
            iso.build(vmlinuz, small, image, cmdline, iso_path)
            istamp.done()
    raw, qcow2 = out / diskimage.RAW_NAME, out / diskimage.QCOW2_NAME
    with steps.step("disk images (the installer onto a file)"):
        dstamp = steps.Stamp(f"disk-{clone}", steps.hash_data(facts["image_sha256"], code))
        if dstamp.fresh(raw, qcow2):
            steps.say("disk images up to date")
        elif diskimage.build(image, facts["image_sha256"], raw, qcow2):
            dstamp.done()
    boxes = [out / vagrantbox.LIBVIRT_BOX, out / vagrantbox.VIRTUALBOX_BOX]
    with steps.step("Vagrant boxes (libvirt, VirtualBox)"):
        key = vagrantbox.insecure_key()
        box_code = steps.hash_files([Path(vagrantbox.__file__), *sorted(vagrantbox.VAGRANT_DIR.iterdir())])
        vstamp = steps.Stamp(f"boxes-{clone}", steps.hash_data(facts["image_sha256"], code, key, box_code))
        if key is None:
            steps.warn("Vagrant boxes skipped: Vagrant's insecure key is missing (apt-get install vagrant)")
        elif vstamp.fresh(*boxes):
            steps.say("Vagrant boxes up to date")
        else:
            seeded = work / "vagrant-seeded.raw"
            if diskimage.write_raw(image, facts["image_sha256"], seeded, vagrantbox.seed_cloud_config(key)):
                vagrantbox.build(seeded, out, work / "vagrant")
                seeded.unlink()
                vstamp.done()
    manifest.update(facts)
    manifest["catalog"] = catalog_built.manifest()
    manifest["compression"] = compression
    manifest["sizes"] = {"iso": iso_path.stat().st_size, "vmlinuz": vmlinuz.stat().st_size,
                         "image": image.stat().st_size, "initrd_small": small.stat().st_size,
                         "initrd": initrd.stat().st_size,
                         **({"raw": raw.stat().st_size, "qcow2": qcow2.stat().st_size} if qcow2.exists() else {}),
                         **{b.name: b.stat().st_size for b in boxes if b.exists()},
                         **{f"image:{i.tag}": sum(l.path.stat().st_size for l in i.layers) for i in built}}
    manifest_path = out / "manifest.json"
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return Artifacts(iso_path, vmlinuz, initrd, manifest_path, cmdline, image, catalog_built.archive)


def _cmd_build(args: list[str]) -> int:
    p = argparse.ArgumentParser(prog="build.py build")
    p.add_argument("--update-lock", action="store_true", help="re-resolve every package set")
    p.add_argument("--compression", choices=sorted(initramfs.COMPRESSORS), default=DEFAULT_COMPRESSION,
                   help="of the initrd (the OS image is squashfs with xz)")
    p.add_argument("--version", default=__version__, help=f"the OS version the image carries (default {__version__})")
    _catalog_options(p)
    a = p.parse_args(args)
    if not re.fullmatch(r"[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}", a.version):
        raise BuildError(f"--version {a.version!r}: use letters, digits and . + _ - (at most 64)")
    art = build(a.update_lock, a.compression, a.version, _catalog_settings(a))
    steps.say(f"artifacts: {art.iso} ({art.iso.stat().st_size / 1e6:.1f} MB), {art.image} "
              f"({art.image.stat().st_size / 1e6:.1f} MB), {art.vmlinuz}, {art.initrd}, {art.catalog} "
              f"({art.catalog.stat().st_size / 1e6:.1f} MB)")
    return 0


def _catalog_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ubuntu-archive", metavar="URL",
                   help="Ubuntu archive the ubuntu-console is bootstrapped from (or $ROS_UBUNTU_ARCHIVE; "
                        "no default: without it that image is skipped)")


def _catalog_settings(a: argparse.Namespace) -> dict[str, str]:
    return catalog.settings_from({"ubuntu-archive": a.ubuntu_archive})


def _cmd_publish(args: list[str]) -> int:
    p = argparse.ArgumentParser(prog="build.py publish",
                                description="push every image of dist/artifacts/catalog-images.tar (built "
                                            "first if absent) to a registry, same repositories and tags")
    p.add_argument("--registry", required=True, metavar="HOST:PORT")
    p.add_argument("--insecure", action="store_true", default=None,
                   help="plain HTTP, no TLS check (the default for loopback registries only)")
    _catalog_options(p)
    a = p.parse_args(args)
    publish.check_registry(a.registry)
    archive = steps.DIST / catalog.ARCHIVE_NAME
    if not archive.exists():
        archive = build(settings=_catalog_settings(a)).catalog
    publish.publish(archive, a.registry, a.insecure)
    return 0


def _cmd_run(args: list[str]) -> int:
    p = argparse.ArgumentParser(prog="build.py run")
    p.add_argument("--memory", type=int, default=1024, help="MB of RAM (default 1024)")
    p.add_argument("--ssh-port", type=int, default=2222, help="host port forwarded to the VM's SSH")
    p.add_argument("--cpus", type=int, default=1)
    p.add_argument("--no-build", action="store_true", help="boot the existing dist/artifacts")
    p.add_argument("--uefi", action="store_true", help="boot with OVMF instead of SeaBIOS")
    a = p.parse_args(args)
    iso_path = steps.DIST / "rancheros.iso"
    if not a.no_build or not iso_path.exists():
        iso_path = build().iso
    disk = qemu.create_disk(steps.cache_dir() / "state-disk.qcow2", "4G")
    steps.say(f"booting {iso_path} (state disk {disk}, ssh -p {a.ssh_port} rancher@localhost; "
              "ctrl-a x quits, ctrl-a c is the QEMU monitor)")
    vm = qemu.VM(iso=iso_path, disks=[disk], memory=a.memory, cpus=a.cpus, ssh_port=a.ssh_port,
                 interactive=True, uefi=a.uefi, serial_log=steps.cache_dir() / "run-serial.log")
    try:
        vm.start()
        return vm.wait()
    except KeyboardInterrupt:
        return 130
    finally:
        vm.cleanup()


def main(command: str, args: list[str]) -> int:
    try:
        if command == "build":
            return _cmd_build(args)
        if command == "run":
            return _cmd_run(args)
        if command == "publish":
            return _cmd_publish(args)
        print(f"build.py: unknown command {command!r}", file=sys.stderr)
        return 2
    except BuildError as exc:   # the product's own errors (installer, catalog) are build.py's to print
        print(f"build.py: {exc}", file=sys.stderr)
        return 1
