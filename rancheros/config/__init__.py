"""The config engine: five layers merged, dotted keys, schema checks, the local store.

Public API (others code against these names):
load, load_layers, Layer, get, set_key, unset_key, parse_cmdline, validate,
Problem, and the modules `schema` and `store` (LocalStore, write_atomic).
"""

from rancheros.config import schema, store
from rancheros.config.cmdline import parse_cmdline, parse_cmdline_words
from rancheros.config.keys import get, leaves, set_key, unset_key
from rancheros.config.layers import Layer, load, load_layers
from rancheros.config.merge import deep_merge, merge_all
from rancheros.config.paths import ConfigPaths
from rancheros.config.redact import redact
from rancheros.config.schema import Problem, validate
from rancheros.config.yamlio import dump_yaml, format_value, parse_mapping

__all__ = [
    "ConfigPaths", "Layer", "Problem", "deep_merge", "dump_yaml",
    "format_value", "get", "leaves", "load", "load_layers", "merge_all",
    "parse_cmdline", "parse_cmdline_words", "parse_mapping", "redact", "schema",
    "set_key", "store", "unset_key", "validate",
]
