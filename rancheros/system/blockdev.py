"""What is on a block device, as blkid and the first/last sectors tell it.

Probing is I/O; the verdicts (is it blank? which device is the state?) are pure
functions over the probe results so they are tested without disks.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from rancheros.system.command import CommandError, CommandNotFound, CommandTimeout, run

log = logging.getLogger(__name__)

EDGE = 1 << 20  # bytes read at each end: MBR, GPT and its backup, fs superblocks
BLKID_TIMEOUT = 30.0  # a device that stopped answering must not hang the boot in blkid


def parse_export(text: str) -> list[dict[str, str]]:
    """`blkid -o export` output: one dict per device, blocks separated by blank lines."""
    records, cur = [], {}
    for line in text.splitlines():
        line = line.strip()
        if not line:
            if cur:
                records.append(cur)
            cur = {}
            continue
        key, eq, value = line.partition("=")
        if eq:
            cur[key] = value
    if cur:
        records.append(cur)
    return records


def _blkid(args: list[str]) -> str:
    """Run blkid; exit status 2 means 'nothing found', which is an answer, not an error."""
    try:
        r = run(["blkid", *args], "blkid " + " ".join(args), BLKID_TIMEOUT, ok=(0, 2))
    except CommandNotFound:
        raise OSError("blkid not found (the initramfs needs /sbin/blkid)") from None
    except CommandTimeout as e:
        log.warning("%s; the boot goes on", e)   # nothing found is what the boot can go on with
        return ""
    except CommandError as e:
        log.debug("%s", e)
        return ""
    return r.stdout if r.returncode == 0 else ""


def scan(devices: list[str] | None = None) -> list[dict[str, str]]:
    """Every device with a signature (or just `devices`), bypassing blkid's cache."""
    return parse_export(_blkid(["-c", "/dev/null", "-o", "export", *(devices or [])]))


@dataclass(frozen=True)
class Probe:
    """Low-level facts about one device: signatures and whether its edges hold any bytes."""

    device: str
    signature: dict[str, str] = field(default_factory=dict)  # `blkid -p -o export` (TYPE, PTTYPE, LABEL...)
    mbr: bool = False          # 0x55AA at byte 510
    gpt: bool = False          # "EFI PART" at LBA 1 (512- or 4096-byte sectors)
    nonzero_head: bool = False
    nonzero_tail: bool = False


def probe(device: str) -> Probe:
    """Read a device's signatures and first and last MiB (read-only)."""
    sig = next(iter(parse_export(_blkid(["-p", "-o", "export", device]))), {})
    with open(device, "rb") as f:
        head = f.read(EDGE)
        size = f.seek(0, os.SEEK_END)
        f.seek(max(len(head), size - EDGE))
        tail = f.read(EDGE)
    return Probe(
        device=device,
        signature=sig,
        mbr=head[510:512] == b"\x55\xaa",
        gpt=head[512:520] == b"EFI PART" or head[4096:4104] == b"EFI PART",
        nonzero_head=head.count(0) != len(head),
        nonzero_tail=tail.count(0) != len(tail),
    )


def blank_verdict(p: Probe) -> tuple[bool, str]:
    """(blank?, why not): blank means no partition table, no signature and only zeros at both ends."""
    sig = p.signature
    if sig.get("PTTYPE") or p.gpt or p.mbr:
        return False, f"it has a {sig.get('PTTYPE') or ('gpt' if p.gpt else 'dos')} partition table"
    if sig.get("TYPE"):
        label = f"labelled {sig['LABEL']!r}" if sig.get("LABEL") else "without a label"
        return False, f"it holds a {sig['TYPE']} file system {label}"
    if p.nonzero_head or p.nonzero_tail:
        return False, "it holds data (non-zero bytes) though no file system was recognised"
    return True, "blank"


def find_device(spec: str, records: list[dict[str, str]]) -> dict[str, str] | None:
    """The record matching `LABEL=x`, `UUID=x` or a device path (pure)."""
    key, eq, value = spec.partition("=")
    if eq and key in ("LABEL", "UUID", "PARTLABEL", "PARTUUID"):
        return next((r for r in records if r.get(key) == value), None)
    real = os.path.realpath(spec)
    return next((r for r in records if os.path.realpath(r.get("DEVNAME", "")) == real), None)
