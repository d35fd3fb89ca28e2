"""`ros config`: read and change the config, with RancherOS's subcommands, flags and output shapes."""

import dataclasses
import json
import logging
import os
import sys
from typing import Any, Callable

import click

from rancheros import config as cfg
from rancheros.cli.context import paths_of, system_docker
from rancheros.config.aliases import normalize
from rancheros.config.cmdline import parse_value
from rancheros.config.layers import merge_layers, read_layer
from rancheros.config.paths import ConfigPaths
from rancheros.config import yamlio
from rancheros.config.schema import coerce_value
from rancheros.config.store import LocalStore, ensure_dir, write_atomic
from rancheros.errors import ConfigError, RosError


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


def apply_options(fn: Callable) -> Callable:
    """--no-apply and --try SECONDS, shared by every command that changes the local config."""
    fn = click.option("--try", "try_seconds", type=int, metavar="SECONDS", default=None,
                      help="Apply, then revert unless `ros config confirm` runs within SECONDS.")(fn)
    return click.option("--no-apply", is_flag=True,
                        help="Only write the config; it takes effect at the next boot or `ros service up`.")(fn)


def change_config(ctx: click.Context, what: str, fn: Callable[[dict], dict], no_apply: bool,
                  try_seconds: int | None) -> None:
    """Write the local config through `fn`, then apply what changed to the running system (unless --no-apply);
    with --try, a helper reverts it after SECONDS unless confirmed."""
    from rancheros.live import trial

    paths = paths_of(ctx)
    if try_seconds is not None and (no_apply or not runs_here(paths)):
        raise ConfigError("--try applies the change and reverts it; it cannot go with --no-apply or with "
                          "a config dir the running system does not read")
    if no_apply or not runs_here(paths):
        LocalStore(paths).update(fn)
        return
    old = load_effective(paths)
    client = _system_docker(old, try_seconds)
    if try_seconds is not None:
        trial.begin(paths, try_seconds, f"ros config {what}")
    try:
        LocalStore(paths).update(fn)
    except BaseException:
        if try_seconds is not None:
            trial.abort(paths)
        raise
    if client is None:
        click.echo("ros: not applied now: no system Docker runs here; the config takes effect at the next boot",
                   err=True)
        return
    _apply(paths, client, old, cfg.load(paths), try_seconds)


def runs_here(paths: ConfigPaths) -> bool:
    """The config is the running system's (its default dir, or a system Docker named by SYSTEM_DOCKER_HOST):
    only then is there something to apply a change to."""
    return paths.config_dir == ConfigPaths().config_dir or bool(os.environ.get("SYSTEM_DOCKER_HOST"))


def _system_docker(doc: dict, try_seconds: int | None):
    """The running system Docker, or None (said on stderr) where there is none: the config is still written."""
    client = system_docker(doc, required=False)
    if client is None and try_seconds is not None:
        raise ConfigError("--try: no system Docker runs here, so nothing would apply or revert; "
                          "nothing was changed")
    return client


def _apply(paths: ConfigPaths, client, old: dict, new: dict, try_seconds: int | None) -> None:
    from docker.errors import DockerException

    from rancheros.live import trial
    from rancheros.live.apply import apply_change
    from rancheros.sysdocker.engine import Engine

    if try_seconds is not None:   # waiting before anything applies: a change that cuts this session still reverts
        try:
            trial.start_helper(Engine(client, new), try_seconds)
        except (RosError, OSError, DockerException) as e:
            trial.revert_if_due(paths, force=True)
            raise ConfigError(f"--try: the helper that would revert the change cannot start ({e}); "
                              "the previous config is back, nothing was applied") from None
    outcome = apply_change(client, old, new)
    for line in outcome.lines:
        click.echo(line)
    for line in outcome.failed:
        click.echo(f"ros: not applied: {line}", err=True)
    if try_seconds is not None:
        click.echo(f"trial: `ros config confirm` within {try_seconds}s keeps this change; "
                   "otherwise the previous config comes back")
    if not outcome.ok:
        raise click.exceptions.Exit(1)


@config.command("set", context_settings={"ignore_unknown_options": True})
@click.argument("key")
@click.argument("value")
@click.option("--json", "as_json", is_flag=True, help="VALUE is JSON instead of YAML.")
@apply_options
@click.pass_context
def set_cmd(ctx: click.Context, key: str, value: str, as_json: bool, no_apply: bool, try_seconds: int | None) -> None:
    """Set KEY to VALUE in the local config (refused when the result is invalid) and apply it now."""
    parsed = parse_cli_value(key, value, as_json)
    change_config(ctx, f"set {key} {value}", lambda doc: cfg.set_key(doc, key, parsed), no_apply, try_seconds)


@config.command()
@click.argument("key")
@apply_options
@click.pass_context
def unset(ctx: click.Context, key: str, no_apply: bool, try_seconds: int | None) -> None:
    """Remove KEY from the local config and apply that now."""
    change_config(ctx, f"unset {key}", lambda doc: cfg.unset_key(doc, key), no_apply, try_seconds)


@config.command()
@click.option("-i", "--input", "source", metavar="FILE", help="Read YAML from FILE instead of stdin.")
@apply_options
@click.pass_context
def merge(ctx: click.Context, source: str | None, no_apply: bool, try_seconds: int | None) -> None:
    """Merge a YAML document into the local config and apply it now."""
    text, name = _read_input(source)
    incoming = normalize(cfg.parse_mapping(text, name), name)
    change_config(ctx, f"merge {name}", lambda doc: cfg.deep_merge(doc, incoming), no_apply, try_seconds)


@config.command()
@click.pass_context
def confirm(ctx: click.Context) -> None:
    """Keep the change of a pending `--try`: it is not reverted."""
    from rancheros.live import trial

    paths = paths_of(ctx)
    kept = trial.confirm(paths)
    try:
        client = system_docker(cfg.load(paths), required=False)
        if client is not None:
            trial.remove_helper(client.api)
    except Exception as e:  # the trial file is gone: the helper finds nothing to revert and ends
        click.echo(f"ros: the trial's helper container stays until its time is up: {e}", err=True)
    click.echo(f"confirmed: {kept.command}")


@config.command("trial-wait", hidden=True)
@click.pass_context
def trial_wait(ctx: click.Context) -> None:
    """The config-trial helper: at the deadline, an unconfirmed trial's previous config comes back and applies."""
    import time

    from rancheros import log
    from rancheros.live import trial
    from rancheros.live.apply import apply_change

    log.setup(tag="config-trial", syslog=True)
    paths = paths_of(ctx)
    while (pending := trial.pending(paths)) is not None and pending.left() > 0:
        time.sleep(min(trial.POLL, pending.left()))
    old = cfg.load(paths)
    reverted = trial.revert_if_due(paths)
    if reverted is None:
        return   # confirmed
    logger = logging.getLogger("rancheros.live")
    logger.warning("config trial %r was not confirmed in time: the previous config is back", reverted.command)
    client = system_docker(cfg.load(paths), required=False)
    if client is None:
        return
    outcome = apply_change(client, old, cfg.load(paths))
    for line in outcome.lines:
        logger.info("%s", line)
    for line in outcome.failed:
        logger.error("not applied: %s", line)


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
    from rancheros.sysdocker.catalog import images
    click.echo(" ".join(images(doc)))
