"""GRUB images with Debian's grub-mkimage: the ISO's UEFI loader, and the installed disk's BIOS and UEFI loaders.

Every module a loader needs is linked in and its first config embedded, so nothing is read from a
module directory at boot and an install needs no GRUB tools (rancheros/install/grub.py places them).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from rancheros.install import grub, layout
from rosbuild import steps

GRUB_LIB = Path("/usr/lib/grub")
COMMON = ("part_gpt", "part_msdos", "search", "search_label", "normal", "linux", "configfile", "echo", "test",
          "serial", "terminal")
DISK_COMMON = (*COMMON, "ext2", "fat", "loadenv", "sleep")
BIOS_MODULES = ("biosdisk", *DISK_COMMON)
EFI_MODULES = ("all_video", *DISK_COMMON)


PACKAGES = ("grub-pc-bin", "grub-efi-amd64-bin")


def host_versions() -> str:
    """The host's GRUB package versions: the loaders are rebuilt when they change."""
    return steps.run(["dpkg-query", "-W", "-f=${Package} ${Version}\n", *PACKAGES])


def mkimage(fmt: str, modules: tuple[str, ...], embedded: str, prefix: str, out: Path, work: Path) -> Path:
    """grub-mkimage for `fmt` (i386-pc, x86_64-efi) with `modules` linked in and `embedded` as its first config."""
    work.mkdir(parents=True, exist_ok=True)
    cfg = work / f"embedded-{fmt}.cfg"
    cfg.write_text(embedded)
    steps.run(["grub-mkimage", "-O", fmt, "-d", GRUB_LIB / fmt, "-o", out, "-p", prefix, "-c", cfg, *modules])
    return out


def efi_fat(efi: Path, out: Path, size_kb: int, label: str, work: Path) -> Path:
    """A FAT file system of `size_kb` holding `efi` as EFI/BOOT/BOOTX64.EFI, reproducibly (mtools, no mount)."""
    if out.exists():
        out.unlink()
    # --invariant: no time-based values (the volume label's entry carried the build's time)
    steps.run(["mkfs.vfat", "--invariant", "-C", "-i", "52414e43", "-n", label, out, str(size_kb)])
    tree = work / "efi-tree"
    shutil.rmtree(tree, ignore_errors=True)
    (tree / "EFI" / "BOOT").mkdir(parents=True)
    shutil.copy(efi, tree / "EFI" / "BOOT" / "BOOTX64.EFI")
    for p in (tree / "EFI" / "BOOT" / "BOOTX64.EFI", tree / "EFI" / "BOOT", tree / "EFI"):
        os.utime(p, (steps.SOURCE_DATE_EPOCH, steps.SOURCE_DATE_EPOCH))
    # one recursive copy keeping the times (mmd stamped the directories with the build's time)
    steps.run(["mcopy", "-s", "-m", "-i", out, tree / "EFI", "::/"])
    shutil.rmtree(tree)
    return out


def disk_files(out: Path, work: Path) -> Path:
    """boot.img, core.img and esp.img (the EFI partition) for the installed disk, into `out` (BOOT_FILES/grub)."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    prefix = f"/{grub.GRUB_DIR}"
    shutil.copy(GRUB_LIB / "i386-pc" / "boot.img", out / grub.BOOT_IMG)
    mkimage("i386-pc", BIOS_MODULES, grub.EMBEDDED_CFG, prefix, out / grub.CORE_IMG, work)
    efi = mkimage("x86_64-efi", EFI_MODULES, grub.EMBEDDED_CFG, prefix, work / "disk-BOOTX64.EFI", work)
    efi_fat(efi, out / grub.ESP_IMG, layout.ESP_MIB * 1024, layout.ESP_LABEL, work)
    return out
