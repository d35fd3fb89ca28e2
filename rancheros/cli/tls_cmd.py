"""`ros tls gen`: certificates for the user Docker's TLS port, as RancherOS had them."""

from pathlib import Path

import click

from rancheros import config


@click.group()
def tls() -> None:
    """TLS certificates of the user Docker."""


@click.command("gen")
@click.option("-s", "--server", is_flag=True, help="Generate the server certificate (default: a client one).")
@click.option("--hostname", "hostnames", multiple=True, metavar="NAME",
              help="A name or IP the server certificate is valid for (repeatable).")
@click.option("-d", "--dir", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the files go (server: <config dir>/tls; client: ~/.docker).")
@click.pass_obj
def gen(paths: config.ConfigPaths, server: bool, hostnames: tuple[str, ...], out_dir: Path | None) -> None:
    """Create the CA if needed, then a server certificate (-s) or a client certificate."""
    from rancheros.userdocker import tls as material
    ca_dir = material.server_dir(paths.config_dir)
    if server:
        doc = config.load(paths)
        host = config.get(doc, "hostname") or config.get(doc, "rancher.hostname")
        names = material.server_names(host, list(hostnames), material.host_addresses())
        done = material.gen_server(out_dir or ca_dir, names)
    else:
        done = material.gen_client(out_dir or Path.home() / ".docker", ca_dir)
    click.echo(f"wrote {done}")


tls.add_command(gen)
tls.add_command(gen, "generate")
