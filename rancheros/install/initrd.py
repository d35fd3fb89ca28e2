"""A slot's initrd: the image's checksum as a small cpio in front of the build's initrd (pure).

The OS image carries its kernel and initrd (BOOT_FILES), but the initrd inside cannot hold the
checksum of the image that holds it; the checksum is put in front when a slot is written (and by
the build for the ISO's initrd). The kernel unpacks concatenated archives in turn.
"""

from __future__ import annotations

import io
import stat

from rancheros import cpio
from rancheros.init.osimage import IMAGE_NAME, IMAGE_SHA256

SHA256_MEMBER = IMAGE_SHA256.lstrip("/")


def checksum_cpio(sha256: str, mtime: int = 0) -> bytes:
    """An uncompressed cpio holding only the checksum file (and its directories), padded to 512 bytes."""
    out = io.BytesIO()
    parts = SHA256_MEMBER.split("/")
    ino = 1
    for i in range(1, len(parts)):
        cpio.write_entry(out, ino, "/".join(parts[:i]), stat.S_IFDIR | 0o755, b"", mtime)
        ino += 1
    cpio.write_entry(out, ino, SHA256_MEMBER, stat.S_IFREG | 0o444, f"{sha256}  {IMAGE_NAME}\n".encode(), mtime)
    cpio.write_entry(out, 0, "TRAILER!!!", 0)
    out.write(b"\0" * (-out.tell() % 512))
    return out.getvalue()


def is_sha256(text: str) -> bool:
    """64 lower-case hex digits (pure)."""
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def with_checksum(base: bytes, sha256: str, mtime: int = 0) -> bytes:
    """The initrd that boots the image whose sha256 is `sha256`."""
    if not is_sha256(sha256):
        raise ValueError(f"not a sha256: {sha256!r}")
    return checksum_cpio(sha256, mtime) + base
