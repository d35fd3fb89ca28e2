"""`ros install` and `ros os upgrade|rollback|list`: the click edge of rancheros/install/."""

from __future__ import annotations

import json
import os

import click

from rancheros import config as cfg
from rancheros.config.aliases import normalize
from rancheros.errors import ConfigError, InstallError, RosError
from rancheros.init.osimage import BOOTED


def _say(msg: str) -> None:
    click.echo(msg)


def _need_root(what: str) -> None:
    if os.geteuid() != 0:
        raise InstallError(f"{what} needs root: run `sudo ros {what}`")


def read_cloud_config(path: str) -> str:
    """The -c file's text, refused with its problems unless it is a valid cloud-config."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
    doc = normalize(cfg.parse_mapping(text, path), path)
    errors = [str(p) for p in cfg.validate(doc) if p.severity == "error"]
    if errors:
        raise ConfigError(f"{path} is not a valid cloud-config: {'; '.join(errors)}")
    return text


def running_image() -> tuple[str, str]:
    """(path, sha256) of the image this boot runs (PID 1's record)."""
    from rancheros.install.upgrade import fetch
    try:
        with open(BOOTED) as f:
            rec = json.load(f)
    except (OSError, ValueError):
        raise InstallError(f"no record of the running image ({BOOTED}): give one with -i IMAGE") from None
    path = rec.get("path") or ""
    if not os.path.isfile(path):
        raise InstallError(f"the running image {path or '?'} is not readable (a kernel+initrd boot frees it): "
                           "give one with -i IMAGE")
    return path, rec.get("sha256") or fetch(path, _say).sha256


def _upgrade_url(ctx: click.Context) -> str:
    try:
        doc = cfg.load(ctx.find_root().obj)
    except RosError:
        return ""
    return str(((doc.get("rancher") or {}).get("upgrade") or {}).get("url") or "")


def _reboot() -> None:
    from rancheros.cli.os_cmd import signal_init
    signal_init("reboot")


@click.command("install")
@click.option("-d", "--device", required=True, metavar="DEVICE", help="The disk to install to (e.g. /dev/vda).")
@click.option("-c", "--cloud-config", metavar="FILE", help="A cloud-config the first boot from the disk applies.")
@click.option("-a", "--append", default="", metavar="ARGS", help="Extra kernel arguments for the installed system.")
@click.option("-i", "--image", metavar="IMAGE", help="An OS image file to install instead of the running one.")
@click.option("-f", "--force", is_flag=True, help="Overwrite a disk that holds data (it is lost).")
@click.option("--no-reboot", is_flag=True, help="Do not reboot when done.")
def install(device: str, cloud_config: str | None, append: str, image: str | None, force: bool,
            no_reboot: bool) -> None:
    """Install the OS to DEVICE: GPT, GRUB for BIOS and UEFI, slot A, a state partition."""
    from rancheros.install import hostns, installer, upgrade

    _need_root("install")
    seed = read_cloud_config(cloud_config) if cloud_config else None
    if image:
        fetched = upgrade.fetch(os.path.abspath(image), _say)
        path, sha = fetched.path, fetched.sha256
    hostns.enter()
    if not image:
        path, sha = running_image()
    installer.install(installer.Request(device, path, sha, seed, append.strip(), force), _say)
    if no_reboot:
        _say("next: power off, remove the ISO, and boot from the disk")
        return
    _say("rebooting: remove the ISO so the machine boots from the disk")
    _reboot()


@click.command("upgrade")
@click.option("-i", "--image", metavar="IMAGE", help="A file, an http(s) URL, or a version of rancher.upgrade.url.")
@click.option("-f", "--force", is_flag=True, help="Write the image even if it is the running one.")
@click.option("--no-reboot", is_flag=True, help="Do not reboot into it now.")
@click.pass_context
def upgrade_cmd(ctx: click.Context, image: str | None, force: bool, no_reboot: bool) -> None:
    """Write an OS image to the other slot and boot it once; it stays if it reaches services up."""
    from rancheros.install import hostns, upgrade

    _need_root("os upgrade")
    url = _upgrade_url(ctx)
    if not image:
        if not url:
            raise InstallError("give the image with -i IMAGE (a file, a URL or a version), or set rancher.upgrade.url")
        versions = list(upgrade.index_versions(url))
        if not versions:
            raise InstallError(f"{url} offers no version")
        image = versions[-1]
    local = os.path.abspath(image) if os.path.exists(image) else image
    hostns.enter()
    upgrade.upgrade(local, url, force, _say)
    if not no_reboot:
        _say("rebooting")
        _reboot()


@click.command("rollback")
def rollback_cmd() -> None:
    """Make the other slot boot from the next boot on."""
    from rancheros.install import hostns, upgrade

    _need_root("os rollback")
    hostns.enter()
    upgrade.rollback(_say)


@click.command("list")
@click.pass_context
def list_cmd(ctx: click.Context) -> None:
    """The versions in both slots, which runs and which boots next; the versions rancher.upgrade.url offers."""
    from rancheros.install import hostns, upgrade

    url = _upgrade_url(ctx)
    if os.geteuid() == 0:
        hostns.enter()
    for line in upgrade.list_lines(url):
        _say(line)
