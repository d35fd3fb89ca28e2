"""`ros env CMD ARGS...`: run a command with `rancher.environment` added to its environment."""

import os
from typing import Any

import click

from rancheros import config as cfg
from rancheros.config.yamlio import format_value
from rancheros.errors import RosError


def environment_of(doc: dict) -> dict[str, str]:
    """`rancher.environment` (a map, or a list of K=V strings) as string variables."""
    env = cfg.get(doc, "rancher.environment") or {}
    if isinstance(env, list):
        pairs = (str(item).partition("=") for item in env)
        return {k: v for k, _, v in pairs if k}
    if isinstance(env, dict):
        return {str(k): _text(v) for k, v in env.items()}
    return {}


def _text(value: Any) -> str:
    return format_value(value) if not isinstance(value, str) else value


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_context
def env(ctx: click.Context, command: tuple[str, ...]) -> None:
    """Run COMMAND with the variables of rancher.environment set."""
    from rancheros.cli.config_cmd import load_effective, paths_of

    variables = {**os.environ, **environment_of(load_effective(paths_of(ctx)))}
    try:
        os.execvpe(command[0], list(command), variables)
    except OSError as e:
        raise RosError(f"cannot run {command[0]}: {e.strerror or e}") from None
