"""Bounds on what cloud-init reads, declared once: user-data size, decompression, MIME nesting and parts.

Whatever a datasource hands over, memory stays under these bounds: reads stop one byte past
MAX_USERDATA and gzip is inflated in a stream that stops one byte past the budget.
"""

import zlib
from pathlib import Path

from rancheros.errors import ConfigError

MAX_DECOMPRESSED = 16 << 20   # what gzip'd user-data (all of it) or one write_files content may inflate to
MAX_USERDATA = 16 << 20       # what a datasource may deliver before decompression
MAX_GZIP_LAYERS = 4           # gzip inside gzip
MAX_MIME_DEPTH = 16           # multipart inside multipart (and MIME inside a text/plain part)
MAX_MIME_PARTS = 200          # parts in one user-data, all levels together

_CHUNK = 1 << 16


class UserDataError(ConfigError):
    """User-data (or one part or item of it) is refused; the message names it and why."""


class Refused(UserDataError):
    """Past a bound: the whole user-data (or the one item) is refused, nothing of it applied."""


def mib(n: int) -> str:
    """`n` bytes for a message: 16 MiB."""
    return f"{n / (1 << 20):g} MiB"


def gunzip(data: bytes, name: str, limit: int = MAX_DECOMPRESSED) -> bytes:
    """`data` (gzip, one or more members) inflated in a stream; UserDataError past `limit` bytes or if corrupt."""
    out = bytearray()
    rest = data
    while True:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        chunk = rest
        try:
            while not inflater.eof:
                got = inflater.decompress(chunk, limit + 1 - len(out))
                out += got
                if len(out) > limit:
                    raise Refused(f"{name}: gzip data inflates to more than {mib(limit)}; refused")
                chunk = inflater.unconsumed_tail
                if not chunk and not got:
                    break
        except zlib.error as e:
            raise UserDataError(f"{name}: corrupt gzip data: {e}") from None
        if not inflater.eof:
            raise UserDataError(f"{name}: corrupt gzip data: truncated")
        rest = inflater.unused_data.lstrip(b"\0")
        if not rest:
            return bytes(out)
        if rest[:2] != b"\x1f\x8b":
            raise UserDataError(f"{name}: corrupt gzip data: trailing bytes after the gzip stream")


def read_at_most(path: Path, limit: int = MAX_USERDATA) -> bytes:
    """The bytes of `path`, or UserDataError when it holds more than `limit` (never more read into memory)."""
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise Refused(f"{path}: more than {mib(limit)}; refused")
    return data

