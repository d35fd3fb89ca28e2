"""The `ros` click application: subcommands load lazily so `ros` starts fast.

Every RosError becomes one line on stderr and exit status 1; no user error
ever prints a traceback.
"""

import importlib
import importlib.util
import sys

import click

from rancheros.config.paths import ConfigPaths
from rancheros.errors import RosError

# name -> "module:attribute" of a click command or group
SUBCOMMANDS: dict[str, str] = {
    "config": "rancheros.cli.config_cmd:config",
    "service": "rancheros.cli.service_cmd:service",
    "s": "rancheros.cli.service_cmd:service",
    "addon": "rancheros.cli.service_cmd:addon",
    "console": "rancheros.cli.console_cmd:console",
    "os": "rancheros.cli.os_cmd:os_group",
    "install": "rancheros.cli.install_cmd:install",
    "env": "rancheros.cli.env_cmd:env",
    "tls": "rancheros.cli.tls_cmd:tls",
    "cloud-init": "rancheros.cli.cloudinit_cmd:cloud_init",
    "network": "rancheros.cli.network_cmd:network",
    "docker": "rancheros.cli.docker_cmd:docker",
    "console-run": "rancheros.cli.console_cmd:run",
    "syslog": "rancheros.cli.syslog_cmd:syslog",
    "udev": "rancheros.cli.udev_cmd:udev",
    "boot": "rancheros.cli.boot_cmd:boot",
}


class LazyGroup(click.Group):
    """Imports a subcommand's module only when that subcommand runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(n for n in SUBCOMMANDS if n != "s" and self._spec_exists(n))

    @staticmethod
    def _spec_exists(name: str) -> bool:
        module = SUBCOMMANDS[name].split(":")[0]
        return importlib.util.find_spec(module) is not None

    def get_command(self, ctx: click.Context, name: str):
        spec = SUBCOMMANDS.get(name)
        if spec is None or not self._spec_exists(name):
            return None
        module, attr = spec.split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config-dir", envvar="ROS_CONFIG_DIR", default=None, metavar="DIR",
              help="Directory of the persistent config (default /var/lib/rancher/conf).")
@click.pass_context
def ros(ctx: click.Context, config_dir: str | None) -> None:
    """Manage RancherOS: config, services, consoles, TLS, the OS itself."""
    ctx.obj = ConfigPaths.from_env(config_dir)


def main(argv: list[str] | None = None) -> int:
    """Run `ros`; user errors become one line on stderr and exit 1."""
    try:
        rv = ros.main(args=argv, prog_name="ros", standalone_mode=False)
    except RosError as e:
        click.echo(f"ros: {e}", err=True)
        return 1
    except click.exceptions.Abort:
        click.echo("ros: aborted", err=True)
        return 1
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except click.exceptions.Exit as e:
        return e.exit_code
    except OSError as e:
        click.echo(f"ros: {e.strerror or e}{': ' + str(e.filename) if e.filename else ''}", err=True)
        return 1
    except KeyboardInterrupt:
        return 130
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":
    sys.exit(main())
