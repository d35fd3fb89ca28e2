"""The kernel command line as a config layer: `rancher.a.b=value` words become config keys.

Values are YAML scalars or flow lists (`rancher.x=[a,b]`); double quotes group
words with spaces; a bare `rancher.debug` is true. Other words are ignored by
the layer but stay available from `parse_cmdline_words` (cloud-init reads them).
"""

import re
from typing import Any

from rancheros.config.keys import set_key
from rancheros.config.yamlio import parse_yaml
from rancheros.errors import ConfigError

_WORD = re.compile(r'(?:[^\s"]+|"[^"]*"?)+')
PREFIX = "rancher."


def split_words(text: str) -> list[str]:
    """Split like the kernel does: on blanks, except inside double quotes (which are removed)."""
    return [w.replace('"', "") for w in _WORD.findall(text)]


def parse_cmdline_words(text: str) -> list[tuple[str, str | None]]:
    """Every word as (name, raw value or None for a bare flag), up to `--` (init's own args)."""
    out: list[tuple[str, str | None]] = []
    for word in split_words(text):
        if word == "--":
            break
        name, eq, value = word.partition("=")
        out.append((name, value if eq else None))
    return out


def parse_value(raw: str) -> Any:
    """A YAML scalar or flow collection (`[a,b]`, `{a: 1}`); anything else stays the raw string."""
    if raw == "":
        return ""
    try:
        value = parse_yaml(raw, "kernel command line")
    except ConfigError:
        if raw.startswith("[") and raw.endswith("]") and "[" not in raw[1:-1]:
            return [parse_value(item.strip()) for item in raw[1:-1].split(",") if item.strip()]
        return raw
    if isinstance(value, (dict, list)) and not raw.lstrip().startswith(("{", "[")):
        return raw  # `a:` or `- a` are block YAML, not a value someone means to type
    return "" if value is None else value


def parse_cmdline(text: str) -> dict:
    """The `rancher.*` words of a kernel command line as a config dict."""
    from rancheros.config.schema import coerce_value

    doc: dict = {}
    for name, raw in parse_cmdline_words(text):
        if not name.startswith(PREFIX) or ".." in name or name.endswith("."):
            continue
        value = True if raw is None else coerce_value(name, raw, parse_value(raw))
        doc = set_key(doc, name, value)
    return doc
