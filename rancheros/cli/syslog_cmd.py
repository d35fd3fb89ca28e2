"""`ros syslog run`: what the syslog system container runs."""

from pathlib import Path

import click

from rancheros import log
from rancheros.syslog.run import SyslogSettings, syslog_run

DEFAULTS = SyslogSettings()


@click.group(hidden=True)
def syslog() -> None:
    """The system log (run by the syslog service)."""


@syslog.command("run")
@click.option("--file", "log_file", default=DEFAULTS.log_file, type=click.Path(dir_okay=False, path_type=Path),
              show_default=True, help="The log file syslogd writes.")
@click.option("--socket", default=DEFAULTS.socket, type=click.Path(dir_okay=False, path_type=Path),
              show_default=True, help="The socket the containers log to (/dev/log links to it).")
@click.option("--max-size", default=DEFAULTS.max_size, show_default=True,
              help="Rotate past this size (logrotate: 64k, 10M).")
@click.option("--keep", default=DEFAULTS.keep, type=click.IntRange(1, 1000), show_default=True,
              help="Rotated files kept.")
@click.option("--every", default=DEFAULTS.every, type=click.FloatRange(0.5), show_default=True,
              help="Seconds between size checks.")
@click.option("--state-dir", default=DEFAULTS.state_dir, type=click.Path(file_okay=False, path_type=Path),
              show_default=True, help="logrotate's config and status file.")
@click.option("--no-klogd", is_flag=True, help="Do not read the kernel log (tests on a developer machine).")
@click.option("--no-dev-log", is_flag=True, help="Leave /dev/log alone (tests on a developer machine).")
@click.pass_context
def run(ctx: click.Context, log_file: Path, socket: Path, max_size: str, keep: int, every: float,
        state_dir: Path, no_klogd: bool, no_dev_log: bool) -> None:
    """Supervise busybox syslogd and klogd; rotate the log file with logrotate."""
    log.setup(tag="syslog", syslog=True)
    s = SyslogSettings(log_file, socket, max_size, keep, every, state_dir, klogd=not no_klogd)
    ctx.exit(syslog_run(s, dev_log=None if no_dev_log else Path("/dev/log")))
