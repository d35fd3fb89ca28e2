"""User-data parsing: #cloud-config YAML, #! scripts, MIME multipart, gzip.

Pure functions over bytes; every problem becomes one error naming the part,
and the parts that parse are still returned, so one bad item never stops the
rest of the user-data from being applied. User-data past a bound of `limits`
(MIME nested deeper than 16, more than 200 parts, more than 16 MiB once
inflated) is refused whole, with one error.
"""

import email
import email.policy
import re
from dataclasses import dataclass, field
from email.message import Message

from rancheros.cloudinit.limits import (MAX_DECOMPRESSED, MAX_GZIP_LAYERS, MAX_MIME_DEPTH, MAX_MIME_PARTS,
                                        Refused, UserDataError, gunzip, mib)
from rancheros.config.yamlio import parse_yaml
from rancheros.errors import ConfigError

CLOUD_CONFIG_TYPES = {"text/cloud-config", "text/cloud-config-jsonp", "text/x-cloud-config"}
SCRIPT_TYPES = {"text/x-shellscript", "text/x-sh", "text/x-script"}
# A header that makes the email parser recurse: each nesting level needs one (a digest's part at most one more).
_CONTAINER = re.compile(rb"(?im)^content-type[ \t]*:[\s\x1c-\x1f]*(multipart|message)/")


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


@dataclass
class _Budget:
    """What the whole user-data has used of its bounds so far (parts, bytes inflated)."""

    parts: int = 0
    inflated: int = 0

    def count_part(self, name: str) -> None:
        self.parts += 1
        if self.parts > MAX_MIME_PARTS:
            raise Refused(f"{name}: more than {MAX_MIME_PARTS} MIME parts; refused")

    def inflate(self, raw: bytes, name: str) -> bytes:
        """Undo gzip (possibly nested) within what is left of MAX_DECOMPRESSED for all of the user-data."""
        for _ in range(MAX_GZIP_LAYERS):
            if raw[:2] != b"\x1f\x8b":
                return raw
            try:
                raw = gunzip(raw, name, MAX_DECOMPRESSED - self.inflated)
            except Refused:
                raise Refused(f"{name}: user-data inflates to more than {mib(MAX_DECOMPRESSED)} "
                              "(all parts together); refused") from None
            self.inflated += len(raw)
        if raw[:2] == b"\x1f\x8b":
            raise UserDataError(f"{name}: gzip inside gzip deeper than {MAX_GZIP_LAYERS} layers")
        return raw

    def try_inflate(self, raw: bytes, name: str, out: "UserData") -> bytes | None:
        """`inflate`; a part's own error (corrupt gzip, too many layers) goes into `out.errors` and gives None.
        Refused (a bound of the whole user-data) goes on up."""
        try:
            return self.inflate(raw, name)
        except Refused:
            raise
        except UserDataError as e:
            out.errors.append(str(e))
            return None


def parse_cloud_config(text: str, name: str = "user-data") -> dict:
    """Parse a #cloud-config document; UserDataError names the item, line and column."""
    try:
        data = parse_yaml(text, name)
    except ConfigError as e:
        raise UserDataError(str(e)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserDataError(f"{name}: expected a YAML mapping at the top, got {type(data).__name__}")
    return data


def parse(raw: bytes, name: str = "user-data") -> UserData:
    """Parse one user-data payload of any supported format; past a bound, one error and nothing else."""
    try:
        return _parse(raw, name, 0, _Budget())
    except Refused as e:
        return UserData(errors=[str(e)])


def _parse(raw: bytes, name: str, depth: int, budget: _Budget) -> UserData:
    out = UserData()
    raw = budget.try_inflate(raw, name, out)
    if raw is None:
        return out
    head = raw.lstrip()[:64]
    if not head:
        return out
    if head.startswith(b"#cloud-config"):
        _add_cloud_config(out, raw, name)
    elif head.startswith(b"#!"):
        out.scripts.append(Script(name, raw.lstrip()))
    elif head.lower().startswith((b"content-type:", b"mime-version:")):
        out.extend(_parse_mime(raw, name, depth, budget))
    else:
        first = head.splitlines()[0].decode("utf-8", "replace")
        out.errors.append(f"{name}: unknown user-data format (starts with {first!r}; "
                          "expected #cloud-config, #! or MIME multipart)")
    return out


def _add_cloud_config(out: UserData, raw: bytes, name: str) -> None:
    try:
        out.cloud_configs.append(parse_cloud_config(raw.decode("utf-8", "replace"), name))
    except UserDataError as e:
        out.errors.append(str(e))


def _leaves(raw: bytes, name: str, depth: int) -> list[tuple[Message, int]]:
    """The non-container parts of a MIME document with their nesting depth; Refused past the bounds."""
    if len(_CONTAINER.findall(raw.replace(b"\r", b"\n"))) > MAX_MIME_PARTS:
        raise Refused(f"{name}: more than {MAX_MIME_PARTS} MIME parts; refused")
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    except RecursionError:
        raise Refused(f"{name}: MIME parts nested deeper than {MAX_MIME_DEPTH}; refused") from None
    leaves: list[tuple[Message, int]] = []
    stack = [(msg, depth)]
    while stack:
        node, level = stack.pop()
        if not node.is_multipart():
            leaves.append((node, level))
            continue
        if level >= MAX_MIME_DEPTH:
            raise Refused(f"{name}: MIME parts nested deeper than {MAX_MIME_DEPTH}; refused")
        stack.extend((child, level + 1) for child in reversed(node.get_payload()))
    return leaves


def _filename(part: Message) -> str:
    try:
        value = part.get_filename()
    except (LookupError, TypeError, ValueError):
        return ""
    return str(value or "")


def _parse_mime(raw: bytes, name: str, depth: int, budget: _Budget) -> UserData:
    out = UserData()
    for index, (part, level) in enumerate(_leaves(raw, name, depth)):
        budget.count_part(name)
        filename = _filename(part)
        pname = f"{name} part {index + 1}" + (f" ({filename!r})" if filename else "")
        out.extend(_parse_part(part, pname, filename or f"part-{index + 1:03d}", level, budget))
    return out


def _parse_part(part: Message, pname: str, script_name: str, level: int, budget: _Budget) -> UserData:
    out = UserData()
    ctype = part.get_content_type()
    payload = part.get_payload(decode=True) or b""
    payload = budget.try_inflate(payload, pname, out)
    if payload is None:
        return out
    if ctype in CLOUD_CONFIG_TYPES:
        _add_cloud_config(out, payload, pname)
    elif ctype in SCRIPT_TYPES:
        out.scripts.append(Script(script_name, payload))
    elif ctype in ("text/plain", "application/octet-stream", "application/x-gzip", "application/gzip"):
        out.extend(_parse(payload, pname, level, budget))
    else:
        out.errors.append(f"{pname}: unsupported content type {ctype}")
    return out
