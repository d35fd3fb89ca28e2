"""Secrets left out of `ros config export` unless `--private` is given."""

import base64
import binascii
import re
from typing import Any

# names of private material: ssh host keys without -pub, *key, *password, *_private
_PRIVATE = re.compile(r"(key|password|passwd|pass|_private|secret|token|psk)$", re.IGNORECASE)
_PUBLIC = re.compile(r"(pub|public|_cert)", re.IGNORECASE)
# what a private key looks like wherever it is (write_files content, an environment value)
_PEM_PRIVATE = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*[=:]")


def is_private(path: tuple[str, ...]) -> bool:
    """Whether the value at this key path is secret (`rancher.ssh.keys.rsa`, `rancher.docker.ca_key`, ...)."""
    name = str(path[-1])
    if path[:-1] == ("rancher", "ssh", "keys"):
        return not name.endswith("-pub")
    return bool(_PRIVATE.search(name)) and not _PUBLIC.search(name)


def holds_secret(value: Any) -> bool:
    """A string that is `NAME=secret` (list-form environment, options) or holds a private key,
    in clear or base64 (write_files' b64 content)."""
    if not isinstance(value, (str, bytes)):
        return False
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    if _PEM_PRIVATE.search(text):
        return True
    named = _ASSIGNMENT.match(text)
    if named and is_private((named.group(1),)):
        return True
    if len(text) >= 40 and " " not in text.strip():
        try:
            return bool(_PEM_PRIVATE.search(base64.b64decode(text, validate=False).decode("utf-8", "replace")))
        except (binascii.Error, ValueError):
            return False
    return False


def _empty(value: Any) -> bool:
    return value in ("", None, [], {})


def redact(doc: Any, path: tuple[str, ...] = ()) -> Any:
    """A copy without private values (empty ones are kept: they reveal nothing): secret keys of maps,
    secret items of lists, and any string holding a private key."""
    if isinstance(doc, dict):
        out = {}
        for key, value in doc.items():
            sub = (*path, str(key))
            if (is_private(sub) and not isinstance(value, dict) and not _empty(value)) or holds_secret(value):
                continue
            out[key] = redact(value, sub)
        return out
    if isinstance(doc, list):
        return [redact(item, path) for item in doc if not holds_secret(item)]
    return doc
