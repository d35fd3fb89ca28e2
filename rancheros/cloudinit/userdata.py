"""User-data parsing: #cloud-config YAML, #! scripts, MIME multipart, gzip.

Pure functions over bytes; every problem becomes one error naming the part,
and the parts that parse are still returned, so one bad item never stops the
rest of the user-data from being applied.
"""

import email
import email.policy
import gzip
import zlib
from dataclasses import dataclass, field

from rancheros.config.yamlio import parse_mapping
from rancheros.errors import ConfigError

CLOUD_CONFIG_TYPES = {"text/cloud-config", "text/cloud-config-jsonp", "text/x-cloud-config"}
SCRIPT_TYPES = {"text/x-shellscript", "text/x-sh", "text/x-script"}
MAX_DEPTH = 4


@dataclass
class Script:
    """A `#!` script from user-data, run once per instance id."""

    name: str
    content: bytes


@dataclass
class UserData:
    """What one user-data document holds, in document order."""

    cloud_configs: list[dict] = field(default_factory=list)
    scripts: list[Script] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def extend(self, other: "UserData") -> None:
        self.cloud_configs += other.cloud_configs
        self.scripts += other.scripts
        self.errors += other.errors


def _decompress(raw: bytes, name: str, depth: int = 0) -> bytes:
    """Undo gzip (possibly nested) so the payload's own header can be read."""
    while raw[:2] == b"\x1f\x8b" and depth < MAX_DEPTH:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError(f"{name}: corrupt gzip data: {e}") from None
        depth += 1
    return raw


def parse_cloud_config(text: str, name: str = "user-data") -> dict:
    """Parse a #cloud-config document; errors name the item, line and column."""
    try:
        return parse_mapping(text, name)
    except ConfigError as e:
        raise ValueError(str(e)) from None


def parse(raw: bytes, name: str = "user-data") -> UserData:
    """Parse one user-data payload of any supported format."""
    return _parse(raw, name, 0)


def _parse(raw: bytes, name: str, depth: int) -> UserData:
    out = UserData()
    try:
        raw = _decompress(raw, name)
    except ValueError as e:
        out.errors.append(str(e))
        return out
    head = raw.lstrip()[:64]
    if not head:
        return out
    if head.startswith(b"#cloud-config"):
        try:
            out.cloud_configs.append(parse_cloud_config(raw.decode("utf-8", "replace"), name))
        except ValueError as e:
            out.errors.append(str(e))
    elif head.startswith(b"#!"):
        out.scripts.append(Script(name, raw.lstrip()))
    elif head.lower().startswith((b"content-type:", b"mime-version:")):
        if depth >= MAX_DEPTH:
            out.errors.append(f"{name}: MIME parts nested deeper than {MAX_DEPTH}")
        else:
            out.extend(_parse_mime(raw, name, depth + 1))
    else:
        first = head.splitlines()[0].decode("utf-8", "replace")
        out.errors.append(f"{name}: unknown user-data format (starts with {first!r}; "
                          "expected #cloud-config, #! or MIME multipart)")
    return out


def _parse_mime(raw: bytes, name: str, depth: int) -> UserData:
    out = UserData()
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    parts = [p for p in msg.walk() if not p.is_multipart()]
    for index, part in enumerate(parts):
        ctype = part.get_content_type()
        pname = f"{name} part {index + 1}" + (f" ({part.get_filename()})" if part.get_filename() else "")
        payload = part.get_payload(decode=True) or b""
        try:
            payload = _decompress(payload, pname)
        except ValueError as e:
            out.errors.append(str(e))
            continue
        if ctype in CLOUD_CONFIG_TYPES:
            try:
                out.cloud_configs.append(parse_cloud_config(payload.decode("utf-8", "replace"), pname))
            except ValueError as e:
                out.errors.append(str(e))
        elif ctype in SCRIPT_TYPES:
            out.scripts.append(Script(part.get_filename() or f"part-{index + 1:03d}", payload))
        elif ctype in ("text/plain", "application/octet-stream", "application/x-gzip", "application/gzip"):
            out.extend(_parse(payload, pname, depth))
        else:
            out.errors.append(f"{pname}: unsupported content type {ctype}")
    return out
