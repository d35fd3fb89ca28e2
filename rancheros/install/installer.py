"""`ros install`: the running OS (or any OS image) onto a disk, bootable by BIOS and UEFI, slot A.

The build writes rancheros.raw with this same code onto an image file (`Target` over a file).
Every step says what it does; nothing is written before the target passed its checks.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import Callable

from rancheros.system.command import run
from rancheros.errors import InstallError
from rancheros.install import bootenv, grub, layout, slots
from rancheros.install.disk import Target, check

Say = Callable[[str], None]
TIMEOUT = 600.0
SEED = "var/lib/rancher/conf/cloud-config.d/install.yml"   # on the state fs: a datasource layer
APPEND_FILE = "append"                                      # under grub/: the operator's --append


@dataclass(frozen=True)
class Request:
    """One install: where, from what image, with which extras."""

    device: str
    image: str
    sha256: str
    cloud_config: str | None = None   # the -c document's text, already checked
    append: str = ""
    force: bool = False
    state_mib: int | None = None      # a disk image's small state (it grows on first boot); else the rest
    reproducible: bool = False        # fixed ids (a build's disk image)


def _ids(req: Request) -> tuple[str | None, dict[int, str], dict[str, str]]:
    """GPT and file system ids: derived from the image for a reproducible disk image, else random."""
    if not req.reproducible:
        return None, {}, {}
    ns = uuid.UUID(req.sha256[:32])
    make = lambda name: str(uuid.uuid5(ns, name))  # noqa: E731
    return (make("disk"), {n: make(f"part{n}") for n in (1, 2, 3, 4)},
            {"boot": make("fs-boot"), "state": make("fs-state")})


def _mkfs_ext4(dev: str, label: str, fs_uuid: str | None) -> None:
    extra = ["-U", fs_uuid, "-E", f"hash_seed={fs_uuid}"] if fs_uuid else []
    run(["mkfs.ext4", "-F", "-q", "-L", label, *extra, dev], f"mkfs.ext4 {dev}", TIMEOUT)


def _write_at(path: str, offset: int, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, data, offset)
        os.fsync(fd)
    finally:
        os.close(fd)


def install(req: Request, say: Say) -> layout.Layout:
    """Partition, install GRUB, write slot A, format and seed the state; returns the layout written."""
    target = Target(req.device)
    check(target, req.force)
    try:
        plan = layout.plan(target.size(), req.state_mib)
    except ValueError as e:
        raise InstallError(f"{req.device}: {e}") from None
    label_id, part_ids, fs_ids = _ids(req)
    with slots.image_root(req.image) as root:
        info = slots.image_info(root, req.sha256)
        base_cmdline = read_text(slots.boot_file(root, "cmdline")).strip()
        boot_img = _read_bytes(slots.boot_file(root, grub.GRUB_DIR, grub.BOOT_IMG))
        core_img = _read_bytes(slots.boot_file(root, grub.GRUB_DIR, grub.CORE_IMG))
        say(f"[1/5] partitioning {req.device} ({target.size() / 2**30:.1f} GiB, GPT: BIOS boot, EFI, "
            f"{layout.BOOT_LABEL} {layout.BOOT_MIB} MiB, {layout.STATE_LABEL} {plan.state.bytes / 2**20:.0f} MiB)")
        wipe = [] if target.is_file else ["--wipe", "always", "--wipe-partitions", "always"]
        run(["sfdisk", "-q", *wipe, req.device], f"sfdisk {req.device}", TIMEOUT,
                    input=layout.sfdisk_script(plan, label_id, part_ids))
        target.reread()
        say("[2/5] installing GRUB (BIOS and UEFI)")
        try:
            _write_at(req.device, 0, grub.mbr_code(boot_img, plan.bios_boot.start))
            _write_at(req.device, plan.bios_boot.offset,
                      grub.placed_core(core_img, plan.bios_boot.start, plan.bios_boot.size))
            esp = _read_bytes(slots.boot_file(root, grub.GRUB_DIR, grub.ESP_IMG))
            if len(esp) > plan.esp.bytes:
                raise InstallError(f"the image's EFI partition ({len(esp)} bytes) exceeds the layout's")
            _write_at(req.device, plan.esp.offset, esp)
        except grub.GrubImageError as e:
            raise InstallError(f"GRUB: {e}") from None
        say(f"[3/5] writing {info.version} to slot A")
        with target.partition(plan.boot) as dev:
            _mkfs_ext4(dev, layout.BOOT_LABEL, fs_ids.get("boot"))
            with slots.mounted(dev, "ext4") as boot:
                slots.write_slot(boot, "A", req.image, root, info, say)
                write_grub_files(boot, base_cmdline, req.append, {"A": info.version})
                env = bootenv.BootEnv()
                env.mark_good("A")
                bootenv.write(os.path.join(boot, grub.GRUB_DIR, "grubenv"), env)
    say(f"[4/5] formatting {layout.STATE_LABEL}" + (" and seeding the cloud-config" if req.cloud_config else ""))
    with target.partition(plan.state) as dev:
        _mkfs_ext4(dev, layout.STATE_LABEL, fs_ids.get("state"))
        if req.cloud_config is not None:
            with slots.mounted(dev, "ext4") as state:
                seed = os.path.join(state, SEED)
                os.makedirs(os.path.dirname(seed), mode=0o700)
                with open(seed, "w") as f:
                    f.write(req.cloud_config)
                os.chmod(seed, 0o600)
    say(f"[5/5] done: {req.device} boots {info.version} from slot A")
    return plan


def write_grub_files(boot: str, base_cmdline: str, append: str, titles: dict[str, str]) -> None:
    """grub/grub.cfg (and the --append it was made with, for upgrades), replaced atomically."""
    gdir = os.path.join(boot, grub.GRUB_DIR)
    os.makedirs(gdir, exist_ok=True)
    cmdline = " ".join(w for w in (base_cmdline, append) if w)
    for name, text in ((APPEND_FILE, append + "\n"), ("grub.cfg", grub.grub_cfg(cmdline, titles))):
        tmp = os.path.join(gdir, name + ".tmp")
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, os.path.join(gdir, name))


def read_text(path: str) -> str:
    with open(path) as f:
        return f.read()


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()
