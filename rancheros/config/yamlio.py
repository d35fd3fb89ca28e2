"""YAML in and out: parse errors name file, line and column; output in RancherOS's shapes."""

import base64
import binascii
from typing import Any, BinaryIO

import yaml

from rancheros.errors import ConfigError

_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

# Bounds on every document read: its size, its nesting, and what YAML aliases expand it to.
MAX_BYTES = 4 << 20
MAX_DEPTH = 64
MAX_VALUES = 200_000
TIMESTAMP = "tag:yaml.org,2002:timestamp"


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """Safe YAML with a config's rules: a key twice in one mapping is an error; dates stay strings
    (`2020-02-30` is a value, not a broken date); an explicit `!!timestamp` must be a real one."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != TIMESTAMP]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            self.flatten_mapping(node)
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        "found an unhashable key", key_node.start_mark) from None
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        f"found the key {key!r} twice", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_binary(self, node):
        text = "".join(self.construct_scalar(node).split())
        try:
            return base64.b64decode(text, validate=True)
        except binascii.Error:
            raise yaml.constructor.ConstructorError(
                None, None, "a !!binary value that is not base64", node.start_mark) from None

    def construct_yaml_bool(self, node):
        value = self.construct_scalar(node)
        if value.lower() not in self.bool_values:
            raise yaml.constructor.ConstructorError(
                None, None, f"{value!r} is not a boolean (true or false)", node.start_mark)
        return self.bool_values[value.lower()]


_Loader.add_constructor("tag:yaml.org,2002:binary", _Loader.construct_yaml_binary)
_Loader.add_constructor("tag:yaml.org,2002:bool", _Loader.construct_yaml_bool)


def _check_bounds(data: Any, source: str) -> None:
    """Refuse a document nested deeper than MAX_DEPTH or expanding to more than MAX_VALUES values."""
    count = 0
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise ConfigError(f"{source}: more than {MAX_VALUES} values (YAML aliases expanding?); refused")
        if isinstance(node, (dict, list)):
            if depth > MAX_DEPTH:
                raise ConfigError(f"{source}: nested deeper than {MAX_DEPTH} levels; refused")
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for k, v in items:
                stack.append((v, depth + 1))


def decode(raw: bytes, source: str) -> str:
    """UTF-8 text of a document's bytes; ConfigError naming the first bad byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{source}: not UTF-8 text (byte {e.start})") from None


def read_bounded(stream: BinaryIO, source: str) -> str:
    """A document's text from `stream`, reading at most MAX_BYTES + 1 bytes: a bigger (or endless) input is
    refused, never held in memory whole. OSError is the caller's to name."""
    raw = stream.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"{source}: more than the {MAX_BYTES >> 20} MiB a config may hold; refused")
    return decode(raw, source)


def parse_yaml(text: str | bytes, source: str = "<input>") -> Any:
    """Parse one bounded YAML document; every problem is one ConfigError naming `source[:line:column]`."""
    if len(text) > MAX_BYTES:
        raise ConfigError(f"{source}: {len(text)} bytes, more than the {MAX_BYTES >> 20} MiB a config may hold")
    if isinstance(text, bytes):
        text = decode(text, source)
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ConfigError(f"{where}: malformed YAML: {e.problem or e.context}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: malformed YAML: {e}") from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deep to read; refused") from None
    except (ArithmeticError, AttributeError, LookupError, TypeError, ValueError) as e:
        # a constructor on a bad value: !!binary, !!bool x, !!int _, !!timestamp x
        raise ConfigError(f"{source}: malformed YAML value: {e}") from None
    _check_bounds(data, source)
    return data


def parse_mapping(text: str | bytes, source: str = "<input>") -> dict:
    """Parse a YAML document that must be a mapping (an empty document is {})."""
    data = parse_yaml(text, source)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a YAML mapping at the top, got {type(data).__name__}")
    return data


def dump_yaml(data: Any) -> str:
    """Block-style YAML in the document's own key order; text that cannot be UTF-8 is a ConfigError."""
    try:
        return yaml.dump(data, Dumper=_Dumper, default_flow_style=False, sort_keys=False,
                         allow_unicode=True, width=1000)
    except UnicodeEncodeError as e:
        bad = e.object[max(0, e.start - 20):e.end + 20] if isinstance(e.object, str) else ""
        raise ConfigError(f"text that is not valid UTF-8 cannot go into a config: {bad!r}") from None
    except RecursionError:
        raise ConfigError("a value nested too deep to write") from None


def format_value(value: Any) -> str:
    """What `ros config get` prints: scalars plain, bools true/false, lists and maps as YAML."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        if not value:
            return "[]" if isinstance(value, list) else "{}"
        return dump_yaml(value).rstrip("\n")
    return str(value)
