"""Dotted key paths (`rancher.network.dns.nameservers`) over a config tree.

A map key that itself contains dots (a label such as `io.rancher.os.scope`)
is found when it exists: the longest existing key wins at each level.
"""

from typing import Any, Iterator

from rancheros.errors import ConfigError
from rancheros.config.merge import copy_tree


MAX_KEY_LENGTH = 512
MAX_KEY_PARTS = 32


def split_key(key: str) -> list[str]:
    """`a.b.c` -> ['a', 'b', 'c']; an empty part, an option-like or control character, or a key too
    long or too deep is an error naming the key."""
    shown = key if len(key) <= 80 else key[:77] + "..."
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        raise ConfigError(f"invalid key {shown!r}: expected dotted names like rancher.network.dns.search"
                          f" (at most {MAX_KEY_LENGTH} characters)")
    if key.startswith("-"):
        raise ConfigError(f"invalid key {shown!r}: a key cannot start with '-' (an unknown option?)")
    if any(ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) < 0xE000 for c in key):
        raise ConfigError(f"invalid key {shown!r}: control characters or bytes that are not UTF-8")
    parts = key.split(".")
    if any(p == "" for p in parts):
        raise ConfigError(f"invalid key {shown!r}: expected dotted names like rancher.network.dns.search")
    if len(parts) > MAX_KEY_PARTS:
        raise ConfigError(f"invalid key {shown!r}: more than {MAX_KEY_PARTS} levels deep")
    return parts


def _step(node: dict, parts: list[str]) -> tuple[str, list[str]]:
    """Pick the map key matching the longest prefix of `parts` (default: the first part)."""
    for n in range(len(parts), 1, -1):
        candidate = ".".join(parts[:n])
        if candidate in node:
            return candidate, parts[n:]
    return parts[0], parts[1:]


def get(doc: dict, key: str) -> Any:
    """The value at `key`, or None when any part of the path is missing."""
    node: Any = doc
    parts = split_key(key)
    while parts:
        if not isinstance(node, dict):
            return None
        name, parts = _step(node, parts)
        if name not in node:
            return None
        node = node[name]
    return node


def set_key(doc: dict, key: str, value: Any) -> dict:
    """A new dict with `key` set to `value`, creating maps on the way (a scalar in the way is replaced)."""
    parts = split_key(key)
    return _set(doc, parts, copy_tree(value))


def _set(node: Any, parts: list[str], value: Any) -> dict:
    node = dict(node) if isinstance(node, dict) else {}
    name, rest = _step(node, parts)
    node[name] = _set(node.get(name), rest, value) if rest else value
    return node


def unset_key(doc: dict, key: str) -> dict:
    """A new dict without `key`; maps left empty by the removal are removed too."""
    parts = split_key(key)
    out = _unset(doc, parts)
    return out if out is not None else {}


def _unset(node: dict, parts: list[str]) -> dict | None:
    name, rest = _step(node, parts)
    if name not in node:
        return node
    out = dict(node)
    if rest:
        child = node[name]
        if not isinstance(child, dict):
            return node
        new_child = _unset(child, rest)
        if new_child is child:
            return node
        if new_child:
            out[name] = new_child
        else:
            del out[name]
    else:
        del out[name]
    return out


def leaves(doc: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, value) of every non-map value; empty maps count as values."""
    if isinstance(doc, dict) and doc:
        for k, v in doc.items():
            yield from leaves(v, f"{prefix}.{k}" if prefix else str(k))
    else:
        yield prefix, doc


def strings(value: Any, key: str) -> list[str]:
    """A value given as one string or a list of them, as a list (none: []); anything else names `key`."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise ConfigError(f"{key}: expected a string or a list of strings, got {value!r}")
    return [str(v) for v in value]
