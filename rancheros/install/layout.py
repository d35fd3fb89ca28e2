"""The installed disk's GPT layout, computed once (pure): BIOS boot, EFI system, boot (slots A and B), state.

Sizes are in 512-byte sectors. The boot partition holds two slots of an OS (kernel, initrd, image: about
150 MB each) with room for the images to grow; the state partition takes the rest of the disk.
"""

from __future__ import annotations

from dataclasses import dataclass

SECTOR = 512
MIB = 2048                                 # sectors in a MiB
GPT_TAIL = 33                              # the backup GPT: 32 sectors of entries and the header
BOOT_LABEL = "RANCHER_BOOT"                # the boot partition's GPT name and ext4 label
STATE_LABEL = "RANCHER_STATE"              # the state partition's GPT name and ext4 label
ESP_LABEL = "EFI"
SLOTS = ("A", "B")

BIOS_BOOT = "21686148-6449-6E6F-744E-656564454649"
ESP = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
LINUX = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"


@dataclass(frozen=True)
class Partition:
    number: int
    name: str
    type_guid: str
    start: int          # sectors
    size: int           # sectors

    @property
    def offset(self) -> int:
        return self.start * SECTOR

    @property
    def bytes(self) -> int:
        return self.size * SECTOR


@dataclass(frozen=True)
class Layout:
    disk_sectors: int
    partitions: tuple[Partition, ...]

    def by_name(self, name: str) -> Partition:
        return next(p for p in self.partitions if p.name == name)

    @property
    def bios_boot(self) -> Partition:
        return self.partitions[0]

    @property
    def esp(self) -> Partition:
        return self.by_name(ESP_LABEL)

    @property
    def boot(self) -> Partition:
        return self.by_name(BOOT_LABEL)

    @property
    def state(self) -> Partition:
        return self.by_name(STATE_LABEL)


ESP_MIB = 64
BOOT_MIB = 768
MIN_STATE_MIB = 64


def min_disk_bytes(state_mib: int = MIN_STATE_MIB) -> int:
    """The smallest disk the layout fits with `state_mib` of state."""
    return (1 + 1 + ESP_MIB + BOOT_MIB + state_mib + 1) * MIB * SECTOR


def plan(disk_bytes: int, state_mib: int | None = None) -> Layout:
    """The layout for a disk of `disk_bytes`; the state takes the rest, or `state_mib` (a disk image's)."""
    sectors = disk_bytes // SECTOR
    if disk_bytes < min_disk_bytes(state_mib or MIN_STATE_MIB):
        raise ValueError(f"{disk_bytes / 2**20:.0f} MiB is too small: the layout needs "
                         f"{min_disk_bytes(state_mib or MIN_STATE_MIB) / 2**20:.0f} MiB")
    parts, start = [], MIB
    for number, (name, guid, mib) in enumerate((("BIOS", BIOS_BOOT, 1), (ESP_LABEL, ESP, ESP_MIB),
                                                (BOOT_LABEL, LINUX, BOOT_MIB)), 1):
        parts.append(Partition(number, name, guid, start, mib * MIB))
        start += mib * MIB
    last_usable = sectors - GPT_TAIL - 1
    size = state_mib * MIB if state_mib else (last_usable + 1 - start) // MIB * MIB
    parts.append(Partition(4, STATE_LABEL, LINUX, start, size))
    return Layout(sectors, tuple(parts))


def sfdisk_script(layout: Layout, label_id: str | None = None, uuids: dict[int, str] | None = None) -> str:
    """What `sfdisk` reads to write `layout` (fixed ids make a disk image reproducible)."""
    lines = ["label: gpt", "unit: sectors", "sector-size: 512"]
    if label_id:
        lines.append(f"label-id: {label_id}")
    for p in layout.partitions:
        extra = f", uuid={uuids[p.number]}" if uuids and p.number in uuids else ""
        lines.append(f'start={p.start}, size={p.size}, type={p.type_guid}, name="{p.name}"{extra}')
    return "\n".join(lines) + "\n"
