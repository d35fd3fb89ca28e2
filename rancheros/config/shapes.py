"""The JSON Schema shapes config values take, for the config schema and the Compose field table."""

STR = {"type": "string"}
BOOL = {"type": "boolean"}
INT = {"type": "integer"}
SCALAR = {"type": ["string", "number", "boolean", "null"]}
STR_LIST = {"type": "array", "items": STR}
STR_OR_LIST = {"type": ["string", "array"], "items": STR}
STR_OR_INT = {"type": ["string", "integer"]}
# environment, labels, extra_hosts: a list of "K=V" strings or a map of scalars
LIST_OR_MAP = {"type": ["array", "object"], "items": STR, "additionalProperties": SCALAR}
