"""`ros engine`: which Docker engine the user Docker runs (the bundled one, or an engine image)."""

import click

from rancheros import config

DEFAULT = "default"


@click.group()
def engine() -> None:
    """List or switch the user Docker engine."""


@engine.command("list")
@click.pass_obj
def list_engines(paths: config.ConfigPaths) -> None:
    """The bundled engine and the configured engine image; the current one is marked."""
    current = config.get(config.load(paths), "rancher.docker.engine") or DEFAULT
    for name in dict.fromkeys([DEFAULT, current]):
        click.echo(f"{'current' if name == current else 'disabled'}  {name}")


@engine.command("switch")
@click.argument("name")
@click.pass_obj
def switch(paths: config.ConfigPaths, name: str) -> None:
    """Use engine NAME (`default`, or an image such as registry:5000/docker:24) from the next `ros service up docker`."""
    if name != DEFAULT and (not name.strip() or any(c.isspace() for c in name)):
        raise click.BadParameter(f"{name!r} is not an engine name or image reference", param_hint="NAME")
    value = "" if name == DEFAULT else name
    config.store.LocalStore(paths).update(lambda doc: config.set_key(doc, "rancher.docker.engine", value))
    click.echo(f"engine set to {name}; apply it with: ros service up docker")
