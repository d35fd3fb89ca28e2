"""Secrets left out of `ros config export` unless `--private` is given."""

import re
from typing import Any

# names of private material: ssh host keys without -pub, *key, *password, *_private
_PRIVATE = re.compile(r"(key|password|passwd|_private|secret|token)$", re.IGNORECASE)
_PUBLIC = re.compile(r"(pub|public|_cert)", re.IGNORECASE)


def is_private(path: tuple[str, ...]) -> bool:
    """Whether the value at this key path is secret (`rancher.ssh.keys.rsa`, `rancher.docker.ca_key`, ...)."""
    name = str(path[-1])
    if path[:-1] == ("rancher", "ssh", "keys"):
        return not name.endswith("-pub")
    return bool(_PRIVATE.search(name)) and not _PUBLIC.search(name)


def redact(doc: Any, path: tuple[str, ...] = ()) -> Any:
    """A copy without private values (empty ones are kept: they reveal nothing)."""
    if not isinstance(doc, dict):
        return doc
    out = {}
    for key, value in doc.items():
        sub = (*path, str(key))
        if is_private(sub) and not isinstance(value, dict) and value not in ("", None, [], {}):
            continue
        out[key] = redact(value, sub)
    return out
