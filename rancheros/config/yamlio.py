"""YAML in and out: parse errors name file, line and column; output in RancherOS's shapes."""

from typing import Any

import yaml

from rancheros.errors import ConfigError

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def parse_yaml(text: str | bytes, source: str = "<input>") -> Any:
    """Parse one YAML document; a syntax error names `source:line:column` (1-based)."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ConfigError(f"{where}: malformed YAML: {e.problem or e.context}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: malformed YAML: {e}") from None


def parse_mapping(text: str | bytes, source: str = "<input>") -> dict:
    """Parse a YAML document that must be a mapping (an empty document is {})."""
    data = parse_yaml(text, source)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a YAML mapping at the top, got {type(data).__name__}")
    return data


def dump_yaml(data: Any) -> str:
    """Block-style YAML in the document's own key order."""
    return yaml.dump(data, Dumper=_Dumper, default_flow_style=False, sort_keys=False,
                     allow_unicode=True, width=1000)


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
