"""GRUB on the installed disk, from images the build made (pure): the MBR and core bytes, grub.cfg.

The build runs Debian's grub-mkimage (`rosbuild/bootloader.py`) and ships its outputs in the OS image
under BOOT_FILES, so installing needs no GRUB tools on the machine. For BIOS, `boot.img` goes in the
MBR's code area and `core.img` in the BIOS boot partition; the two fields grub-bios-setup would fill
for that place (the sector `boot.img` loads, and the first block list of `core.img`) are set here. For
UEFI, the build makes the whole EFI system partition (`esp.img`, FAT, GRUB at the removable-media path
EFI/BOOT/BOOTX64.EFI, so no firmware variable is needed), which is written as it is. Both carry an embedded config that finds the boot partition by its label.
"""

from __future__ import annotations

import struct

from rancheros.install import layout

BOOT_FILES = "/usr/share/rancheros/boot"     # in the OS image: vmlinuz, initrd, grub/
GRUB_DIR = "grub"                            # under BOOT_FILES and on the boot partition
CORE_IMG, BOOT_IMG, ESP_IMG = "core.img", "boot.img", "esp.img"   # esp.img: the whole FAT partition
MBR_CODE = 440                                # bytes of boot code before the disk signature
KERNEL_SECTOR = 0x5C                          # u64: the first sector of core.img
DRIVE_CHECK = 0x66                            # a jmp replaced by two nops on hard disks
BLOCKLIST = 512 - 12                          # core.img's first block list: u64 start, u16 len, u16 seg
TRIAL_ARGS = "panic=10 rancher.os.trial=1"    # a trial boot reboots on a panic; PID 1 knows it is one

EMBEDDED_CFG = (f"search --no-floppy --set=root --label {layout.BOOT_LABEL}\n"
                f"set prefix=($root)/{GRUB_DIR}\nconfigfile ($root)/{GRUB_DIR}/grub.cfg\n")


class GrubImageError(ValueError):
    """A boot.img or core.img that does not look like the build's."""


def mbr_code(boot_img: bytes, core_sector: int) -> bytes:
    """The 440 bytes of boot code for the MBR: boot.img loading `core_sector`, the hard-disk fix applied."""
    if len(boot_img) != 512 or boot_img[510:512] != b"\x55\xaa":
        raise GrubImageError("boot.img is not a 512-byte boot sector")
    code = bytearray(boot_img[:MBR_CODE])
    code[KERNEL_SECTOR:KERNEL_SECTOR + 8] = struct.pack("<Q", core_sector)
    code[DRIVE_CHECK:DRIVE_CHECK + 2] = b"\x90\x90"
    return bytes(code)


def placed_core(core_img: bytes, core_sector: int, room_sectors: int) -> bytes:
    """core.img with its block list pointing at the sectors after `core_sector` (it must fit `room_sectors`)."""
    sectors = -(-len(core_img) // 512)
    if sectors > room_sectors:
        raise GrubImageError(f"core.img needs {sectors} sectors, the BIOS boot partition has {room_sectors}")
    if len(core_img) < 1024:
        raise GrubImageError("core.img is too short")
    img = bytearray(core_img + b"\0" * (sectors * 512 - len(core_img)))
    _start, length, _seg = struct.unpack_from("<QHH", img, BLOCKLIST)
    if length != sectors - 1:   # grub-mkimage fills len and segment; only the start depends on the place
        raise GrubImageError(f"core.img's block list says {length} sectors, the file has {sectors - 1} after the first")
    struct.pack_into("<Q", img, BLOCKLIST, core_sector + 1)
    return bytes(img)


def grub_cfg(cmdline: str, titles: dict[str, str] | None = None) -> str:
    """The boot partition's grub.cfg: boot `boot_slot`, or `next_slot` once (a trial), from grubenv.

    GRUB clears next_slot before booting it, so a trial that never reaches "services up" (which makes
    it boot_slot) is not booted again: the next boot is the previous slot's.
    """
    lines = ["serial --unit=0 --speed=115200", "terminal_input console serial",
             "terminal_output console serial", "set timeout=3", "set boot_slot=A", "set next_slot=",
             f"if [ -s ($root)/{GRUB_DIR}/grubenv ]; then load_env; fi", "set trial=",
             'set default="${boot_slot}"', 'if [ -n "${next_slot}" ]; then', '  set default="${next_slot}"',
             f'  set trial="{TRIAL_ARGS}"', "  set next_slot=", "  save_env next_slot", "fi", ""]
    for slot in layout.SLOTS:
        title = (titles or {}).get(slot, "")
        lines += [f'menuentry "RancherOS-Py slot {slot}{(" " + title) if title else ""}" --id {slot} {{',
                  f"  linux /{slot}/vmlinuz {slot_cmdline(cmdline, slot)} $trial",
                  f"  initrd /{slot}/initrd", "}", ""]
    return "\n".join(lines)


def slot_cmdline(cmdline: str, slot: str) -> str:
    """The kernel command line of `slot`: the operator's (the build's and --append) plus the slot's image."""
    return " ".join(w for w in (cmdline, f"rancher.image=LABEL={layout.BOOT_LABEL}:/{slot}/rancheros.img",
                                f"rancher.os.slot={slot}") if w)
