"""The hybrid ISO: isolinux (BIOS) and GRUB (UEFI, grub-mkstandalone in a FAT efiboot image), via xorriso.

It holds the kernel, the small initrd and the OS image (/rancheros.img), which the initrd finds by
the volume label and boots in place.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from rosbuild import bootloader, steps

LABEL = "RANCHEROS"
ISOLINUX = Path("/usr/lib/ISOLINUX")
SYSLINUX_MODULES = Path("/usr/lib/syslinux/modules/bios")
LIVE_ARGS = "console=tty0 console=ttyS0 rancher.state.autoformat=[/dev/sda,/dev/vda] rancher.password=rancher"


@dataclass(frozen=True)
class Entry:
    label: str
    title: str
    cmdline: str


def entries(default_cmdline: str) -> list[Entry]:
    """The boot menu: the live entry (default, 3 s) and a debug entry."""
    base = f"{default_cmdline} {LIVE_ARGS}".strip()
    return [Entry("live", "RancherOS-Py (live)", base),
            Entry("debug", "RancherOS-Py (live, debug)", f"{base} rancher.debug=true")]


def isolinux_cfg(menu: list[Entry]) -> str:
    lines = ["SERIAL 0 115200", "UI menu.c32", "PROMPT 0", "TIMEOUT 30", f"DEFAULT {menu[0].label}",
             "MENU TITLE RancherOS-Py", ""]
    for e in menu:
        lines += [f"LABEL {e.label}", f"  MENU LABEL {e.title}", "  KERNEL /boot/vmlinuz",
                  f"  APPEND initrd=/boot/initrd {e.cmdline}", ""]
    return "\n".join(lines)


def grub_cfg(menu: list[Entry]) -> str:
    lines = ["serial --unit=0 --speed=115200", "terminal_input console serial",
             "terminal_output console serial", "set timeout=3", "set default=0", ""]
    for e in menu:
        lines += [f'menuentry "{e.title}" {{', f"  linux /boot/vmlinuz {e.cmdline}",
                  "  initrd /boot/initrd", "}", ""]
    return "\n".join(lines)


EFI_MODULES = ("iso9660", "all_video", *bootloader.COMMON)
EMBEDDED_GRUB = f"search --no-floppy --set=root --label {LABEL}\nset prefix=($root)/boot/grub\n" \
                "configfile ($root)/boot/grub/grub.cfg\n"


def _efi_image(work: Path, out: Path) -> None:
    # grub-mkimage, not grub-mkstandalone: the latter packs its config in a memdisk tar stamped with
    # the build's time, so no two ISOs were alike; here the modules are linked in and the config embedded.
    efi = bootloader.mkimage("x86_64-efi", EFI_MODULES, EMBEDDED_GRUB, "/boot/grub", work / "BOOTX64.EFI", work)
    bootloader.efi_fat(efi, out, max(2048, (efi.stat().st_size // 1024) + 512), "EFIBOOT", work)


def build(vmlinuz: Path, initrd: Path, image: Path, default_cmdline: str, out: Path) -> Path:
    """Write the hybrid ISO to `out` (BIOS and UEFI, CD and USB)."""
    work = steps.cache_dir() / "iso"
    shutil.rmtree(work, ignore_errors=True)
    tree = work / "tree"
    for d in ("isolinux", "boot/grub"):
        (tree / d).mkdir(parents=True)
    menu = entries(default_cmdline)
    shutil.copy(ISOLINUX / "isolinux.bin", tree / "isolinux")
    for mod in ("ldlinux.c32", "menu.c32", "libutil.c32", "libcom32.c32"):
        shutil.copy(SYSLINUX_MODULES / mod, tree / "isolinux")
    (tree / "isolinux/isolinux.cfg").write_text(isolinux_cfg(menu))
    (tree / "boot/grub/grub.cfg").write_text(grub_cfg(menu))
    shutil.copy(vmlinuz, tree / "boot/vmlinuz")
    shutil.copy(initrd, tree / "boot/initrd")
    shutil.copy(image, tree / image.name)
    _efi_image(work, tree / "boot/grub/efi.img")
    for p in [tree, *tree.rglob("*")]:
        os.utime(p, (steps.SOURCE_DATE_EPOCH, steps.SOURCE_DATE_EPOCH))
    tmp = out.with_suffix(".iso.tmp")
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(steps.SOURCE_DATE_EPOCH))
    steps.run(["xorriso", "-as", "mkisofs", "-o", tmp, "-V", LABEL, "-J", "-joliet-long", "-r",
               "-isohybrid-mbr", ISOLINUX / "isohdpfx.bin",
               "-c", "isolinux/boot.cat", "-b", "isolinux/isolinux.bin",
               "-no-emul-boot", "-boot-load-size", "4", "-boot-info-table",
               "-eltorito-alt-boot", "-e", "boot/grub/efi.img", "-no-emul-boot", "-isohybrid-gpt-basdat",
               tree], env=env)
    os.replace(tmp, out)
    shutil.rmtree(tree)
    return out
