"""The five config layers of DESIGN.md, read from their files and merged.

A missing layer is skipped. A layer that does not parse is skipped with one
error line naming it; a wrongly typed value loses only itself, with one line
naming layer and key. So the boot, and `ros` (which must be able to repair
the value), go on with the rest; `strict=True` raises instead.
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path

from rancheros.config.aliases import normalize
from rancheros.config.cmdline import parse_cmdline
from rancheros.config.merge import merge_all
from rancheros.config.paths import ConfigPaths
from rancheros.config.yamlio import parse_mapping, read_bounded
from rancheros.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass
class Layer:
    """One source of config: its name, file, parsed (alias-normalised) data, why it was rejected,
    and the wrongly typed values left out of `data` ("key: why")."""

    name: str
    path: Path
    data: dict
    error: str | None = None
    dropped: list[str] = field(default_factory=list)


def _read_text(path: Path) -> str | None:
    """The file's text (read bounded), None when it does not exist; other I/O errors name the file."""
    try:
        with path.open("rb") as f:
            return read_bounded(f, str(path))
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return None
    except PermissionError:
        raise ConfigError(f"{path}: cannot read: permission denied (it is root's: use sudo)") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from None


def _checked(name: str, path: Path, data: dict) -> Layer:
    """The layer without its wrongly typed values, each named in `dropped`."""
    from rancheros.config.schema import without_type_errors

    kept, problems = without_type_errors(data)
    return Layer(name, path, kept, dropped=[f"{p.path}: {p.message}" for p in problems])


def read_layer(name: str, path: Path) -> Layer | None:
    """Read one YAML layer file; None when it is missing."""
    try:
        text = _read_text(path)
        if text is None:
            return None
        data = normalize(parse_mapping(text, str(path)), str(path))
    except ConfigError as e:
        return Layer(name, path, {}, str(e))
    return _checked(name, path, data)


def read_cmdline_layer(path: Path) -> Layer | None:
    """The kernel command line layer (only its `rancher.*` words)."""
    try:
        text = _read_text(path)
    except ConfigError as e:
        return Layer("cmdline", path, {}, str(e))
    if text is None:
        return None
    data = parse_cmdline(text)
    return _checked("cmdline", path, data)


def datasource_files(paths: ConfigPaths) -> list[Path]:
    """cloud-config.d/*.yml in name order."""
    try:
        return sorted(p for p in paths.datasource_dir.glob("*.yml") if p.is_file())
    except OSError:
        return []


def load_layers(paths: ConfigPaths, local: bool = True) -> list[Layer]:
    """Every present layer, lowest first, with its error if it was rejected."""
    layers = [read_layer("defaults", paths.defaults), read_layer("image", paths.image_config)]
    layers += [read_layer(f"cloud-config.d/{p.name}", p) for p in datasource_files(paths)]
    if local:
        layers.append(read_layer("local", paths.local))
    layers.append(read_cmdline_layer(paths.cmdline))
    return [layer for layer in layers if layer is not None]


def merge_layers(layers: list[Layer], strict: bool = False) -> dict:
    """Merge the good layers; a bad one is logged once (or raised when strict) and skipped."""
    good = []
    for layer in layers:
        if layer.error:
            if strict:
                raise ConfigError(layer.error)
            log.error("config layer %s skipped: %s", layer.name, layer.error)
            continue
        for problem in layer.dropped:
            if strict:
                raise ConfigError(f"{layer.path}: {problem}")
            log.error("config layer %s (%s): %s; that value skipped (fix it with ros config set or unset)",
                      layer.name, layer.path, problem)
        good.append(layer.data)
    return merge_all(good)


def load(paths: ConfigPaths, strict: bool = False) -> dict:
    """The effective config: all five layers merged, aliases normalised."""
    return merge_layers(load_layers(paths), strict)
