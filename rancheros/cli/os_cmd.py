"""`ros os version` (what runs), and `ros os reboot|shutdown|halt`: ask PID 1 for an orderly stop.

PID 1 maps SIGUSR1 to reboot, SIGTERM to power-off and SIGUSR2 to halt
(rancheros.init.shutdown.SIGNAL_ACTIONS); the console's `reboot`, `poweroff`
and `halt` links end up here too.
"""

from __future__ import annotations

import json
import os
import signal

import click

from rancheros.errors import RosError

ACTIONS = {"reboot": signal.SIGUSR1, "shutdown": signal.SIGTERM, "halt": signal.SIGUSR2}


def init_pid() -> int:
    """PID 1, or ROS_INIT_PID when a test runs init inside its own PID namespace."""
    value = os.environ.get("ROS_INIT_PID", "1")
    try:
        return int(value)
    except ValueError:
        raise RosError(f"ROS_INIT_PID must be a process id, got {value!r}") from None


def signal_init(action: str) -> None:
    """Send PID 1 the signal for `action`; one-line errors for non-root and a missing init."""
    if os.geteuid() != 0:
        raise RosError(f"{action} needs root: run `sudo ros os {action}`")
    pid = init_pid()
    try:
        os.kill(pid, ACTIONS[action])
    except ProcessLookupError:
        raise RosError(f"no init process with pid {pid}") from None
    except PermissionError:
        raise RosError(f"not allowed to signal init (pid {pid})") from None


@click.group("os")
def os_group() -> None:
    """The running OS's version and slots; upgrade, roll back; reboot, power off or halt this machine."""


def version_lines(manifest: dict, booted: dict | None, slot: str | None = None, trial: bool = False) -> list[str]:
    """What `ros os version` prints (pure)."""
    lines = [f"{manifest.get('name', 'RancherOS-Py')} {manifest.get('version', 'unknown')} "
             f"(commit {manifest.get('commit', 'unknown')})"]
    if slot:
        lines.append(f"slot {slot}" + (" (on trial until services are up)" if trial else ""))
    if booted:
        lines.append(f"image: {booted.get('path')} from {booted.get('origin')}"
                     + (f", sha256 {booted['sha256']}" if booted.get("sha256") else ""))
    return lines


@os_group.command("version")
def version_cmd() -> None:
    """Print the running OS version, its build commit and the image it booted."""
    from rancheros.init.osimage import BOOTED, MANIFEST

    try:
        with open(os.environ.get("ROS_MANIFEST", MANIFEST)) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        raise RosError(f"cannot read the OS manifest {MANIFEST}: {e}") from None
    try:
        with open(os.environ.get("ROS_BOOTED", BOOTED)) as f:
            booted = json.load(f)
    except (OSError, ValueError):
        booted = None
    from rancheros.install import bootslot
    this = bootslot.booted()
    try:
        trial = bootslot.on_trial(bootslot.boot_dir())
    except RosError:
        trial = False
    for line in version_lines(manifest, booted, this.slot, trial):
        click.echo(line)


def _power_command(action: str, help_text: str) -> click.Command:
    @click.command(action, help=help_text)
    @click.option("-f", "--force", is_flag=True, hidden=True, help="accepted for compatibility; always orderly")
    def cmd(force: bool) -> None:
        signal_init(action)
    return cmd


def _slot_commands() -> None:
    from rancheros.cli.install_cmd import list_cmd, rollback_cmd, upgrade_cmd
    for cmd in (upgrade_cmd, rollback_cmd, list_cmd):
        os_group.add_command(cmd)


_slot_commands()
os_group.add_command(_power_command("reboot", "Stop services in order and reboot."))
os_group.add_command(_power_command("shutdown", "Stop services in order and power off."))
os_group.add_command(_power_command("halt", "Stop services in order and halt."))
