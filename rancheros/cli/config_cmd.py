"""`ros config`: read and change the config, with RancherOS's subcommands, flags and output shapes."""

import dataclasses
import json
import sys
from typing import Any

import click

from rancheros import config as cfg
from rancheros.config.aliases import normalize
from rancheros.config.cmdline import parse_value
from rancheros.config.layers import merge_layers, read_layer
from rancheros.config.paths import ConfigPaths
from rancheros.config import yamlio
from rancheros.config.schema import coerce_value
from rancheros.config.store import LocalStore, ensure_dir, write_atomic
from rancheros.errors import ConfigError


def paths_of(ctx: click.Context) -> ConfigPaths:
    """The ConfigPaths the root `ros` group put in ctx.obj (from the environment when run alone)."""
    paths = ctx.find_root().obj
    return paths if isinstance(paths, ConfigPaths) else ConfigPaths.from_env()


def load_effective(paths: ConfigPaths) -> dict:
    """All layers merged; an existing but unusable config dir is one clear error."""
    ensure_dir(paths.config_dir, create=False, write=False)
    return cfg.load(paths)


def _read_input(source: str | None) -> tuple[str, str]:
    """(text, name) of `-i FILE`, or stdin when FILE is absent or `-`."""
    if source in (None, "-"):
        return yamlio.read_bounded(sys.stdin.buffer, "<stdin>"), "<stdin>"
    try:
        with open(source, "rb") as f:
            return yamlio.read_bounded(f, source), source
    except OSError as e:
        raise ConfigError(f"cannot read {source}: {e.strerror or e}") from None


def _echo_value(value: Any) -> None:
    text = cfg.format_value(value)
    if text:
        click.echo(text)


@click.group()
def config() -> None:
    """Get, set, merge, export and validate the config."""


@config.command()
@click.argument("key")
@click.pass_context
def get(ctx: click.Context, key: str) -> None:
    """Print the value of KEY (dotted path) from the effective config."""
    _echo_value(cfg.get(load_effective(paths_of(ctx)), key))


def parse_cli_value(key: str, raw: str, as_json: bool = False) -> Any:
    """VALUE as `ros config set` reads it: a YAML scalar or flow list/map, or JSON with --json."""
    if as_json:
        try:
            return json.loads(raw)
        except json.JSONDecodeError as e:
            raise ConfigError(f"value for {key} is not valid JSON: {e}") from None
    return coerce_value(key, raw, parse_value(raw))


@config.command("set", context_settings={"ignore_unknown_options": True})
@click.argument("key")
@click.argument("value")
@click.option("--json", "as_json", is_flag=True, help="VALUE is JSON instead of YAML.")
@click.pass_context
def set_cmd(ctx: click.Context, key: str, value: str, as_json: bool) -> None:
    """Set KEY to VALUE in the local config (refused when the result is invalid)."""
    parsed = parse_cli_value(key, value, as_json)
    LocalStore(paths_of(ctx)).update(lambda doc: cfg.set_key(doc, key, parsed))


@config.command()
@click.argument("key")
@click.pass_context
def unset(ctx: click.Context, key: str) -> None:
    """Remove KEY from the local config."""
    LocalStore(paths_of(ctx)).update(lambda doc: cfg.unset_key(doc, key))


@config.command()
@click.option("-i", "--input", "source", metavar="FILE", help="Read YAML from FILE instead of stdin.")
@click.pass_context
def merge(ctx: click.Context, source: str | None) -> None:
    """Merge a YAML document into the local config."""
    text, name = _read_input(source)
    incoming = normalize(cfg.parse_mapping(text, name), name)
    LocalStore(paths_of(ctx)).update(lambda doc: cfg.deep_merge(doc, incoming))


def explain_lines(layers: list[cfg.Layer], merged: dict) -> str:
    """Each effective value with the layer it comes from, skipped layers first."""
    lines = [f"# skipped {layer.name}: {layer.error}" for layer in layers if layer.error]
    lines += [f"# skipped in {layer.name}: {problem}" for layer in layers for problem in layer.dropped]
    good = [layer for layer in layers if not layer.error]
    for key, value in cfg.leaves(merged):
        origin = next((layer for layer in reversed(good)
                       if cfg.get(layer.data, key) is not None or _has(layer.data, key)), None)
        where = f"{origin.name} ({origin.path})" if origin else "?"
        lines.append(f"{key}: {json.dumps(value)}  # {where}")
    return "\n".join(lines) + "\n"


def _has(doc: dict, key: str) -> bool:
    parent, _, last = key.rpartition(".")
    node = cfg.get(doc, parent) if parent else doc
    return isinstance(node, dict) and last in node


@config.command()
@click.option("-o", "--output", metavar="FILE", help="Write to FILE (mode 0600) instead of stdout.")
@click.option("-p", "--private", is_flag=True, help="Include private keys and passwords.")
@click.option("-f", "--full", is_flag=True, help="All layers merged, not only the local config.")
@click.option("--explain", "explain", is_flag=True, help="Name the layer of every value (implies --full).")
@click.pass_context
def export(ctx: click.Context, output: str | None, private: bool, full: bool, explain: bool) -> None:
    """Print the local config (or, with --full, the effective config); secrets redacted unless --private."""
    paths = paths_of(ctx)
    ensure_dir(paths.config_dir, create=False, write=False)
    layers: list[cfg.Layer] = []
    if full or explain:
        layers = cfg.load_layers(paths)
        doc = merge_layers(layers)
    else:
        doc = LocalStore(paths).read()
    if not private:
        doc = cfg.redact(doc)
        layers = [dataclasses.replace(x, data=cfg.redact(x.data)) for x in layers]
    text = explain_lines(layers, doc) if explain else (cfg.dump_yaml(doc) if doc else "{}\n")
    if output:
        write_atomic(output, text.encode("utf-8"), 0o600)
    else:
        click.echo(text, nl=False)


@config.command("validate")
@click.argument("file", required=False)
@click.option("-i", "--input", "source", metavar="FILE", help="Read YAML from FILE instead of stdin.")
def validate_cmd(file: str | None, source: str | None) -> None:
    """Check a config document; print every problem with its key path (exit 1 on errors)."""
    text, name = _read_input(source or file)
    doc = normalize(cfg.parse_mapping(text, name), name)
    problems = cfg.validate(doc)
    for problem in problems:
        click.echo(f"{name}: {problem}", err=problem.severity == "error")
    if any(p.severity == "error" for p in problems):
        raise click.exceptions.Exit(1)


@config.command()
@click.option("-i", "--input", "source", metavar="FILE",
              help="Images of this config merged over the defaults, instead of the system's.")
@click.pass_context
def images(ctx: click.Context, source: str | None) -> None:
    """Print the images the enabled services need, on one line."""
    paths = paths_of(ctx)
    if source:
        text, name = _read_input(source)
        defaults = read_layer("defaults", paths.defaults)
        base = defaults.data if defaults and not defaults.error else {}
        doc = cfg.deep_merge(base, normalize(cfg.parse_mapping(text, name), name))
    else:
        doc = load_effective(paths)
    click.echo(" ".join(cfg.images(doc)))
