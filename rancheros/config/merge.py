"""The merge rule of the config layers: maps merge deep, lists and scalars replace."""

from typing import Any, Iterable


def deep_merge(base: dict, over: dict) -> dict:
    """A new dict: `over` on top of `base`; neither input is modified."""
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            out[key] = deep_merge(old, value)
        else:
            out[key] = copy_tree(value)
    return out


def merge_all(docs: Iterable[dict]) -> dict:
    """Merge documents lowest first."""
    out: dict = {}
    for doc in docs:
        out = deep_merge(out, doc)
    return out


def copy_tree(value: Any) -> Any:
    """Copy the dicts and lists of a YAML tree (scalars are immutable)."""
    if isinstance(value, dict):
        return {k: copy_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_tree(v) for v in value]
    return value
