"""Datasources: where user-data and meta-data come from.

Each spec in `rancher.cloud_init.datasources` names one: `configdrive[:DIR]`,
`nocloud[:DIR]`, `cmdline`, `url:URL`, `ec2[:BASE_URL]`, `file:PATH`. Local
ones are read by init's local stage; network ones by the cloud-init service
once the network is up.
"""

import base64
import binascii
import contextlib
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from rancheros.cloudinit.fetch import DatasourceError, fetch_url
from rancheros.cloudinit.limits import MAX_USERDATA, read_at_most
from rancheros.cloudinit.metadata import MetaData, from_nocloud, from_openstack
from rancheros.config.cmdline import parse_cmdline_words
from rancheros.errors import ConfigError
from rancheros.system import blockdev, command

log = logging.getLogger(__name__)
MOUNT_TIMEOUT = 60.0   # modprobe, mount and umount of a config drive: a minute means the device stopped answering

EC2_BASE = "http://169.254.169.254/latest"


@dataclass
class Found:
    """What one datasource delivered."""

    source: str
    userdata: bytes = b""
    metadata: MetaData = field(default_factory=MetaData)


@dataclass
class Datasource:
    """One configured datasource: a name, whether it needs the network, and a reader."""

    spec: str
    network: bool
    read: Callable[[], Found | None]


def _read(path: Path) -> bytes:
    """A datasource file's bytes (b"" when missing); more than MAX_USERDATA is refused."""
    try:
        return read_at_most(path)
    except FileNotFoundError:
        return b""


def read_configdrive(root: Path) -> Found | None:
    """OpenStack config drive layout: openstack/latest/{user_data,meta_data.json}."""
    latest = root / "openstack" / "latest"
    if not latest.is_dir():
        return None
    meta = from_openstack(_read(latest / "meta_data.json"))
    return Found(f"configdrive:{root}", _read(latest / "user_data"), meta)


def read_nocloud(root: Path) -> Found | None:
    """NoCloud layout (cloud-localds): user-data and meta-data at the top."""
    if not (root / "user-data").exists() and not (root / "meta-data").exists():
        return None
    return Found(f"nocloud:{root}", _read(root / "user-data"), from_nocloud(_read(root / "meta-data")))


def devices_with_label(label: str) -> list[tuple[str, str]]:
    """(device, fs type) of each filesystem carrying `label`, any case (config-2, CONFIG-2, cidata, CIDATA)."""
    return [(r["DEVNAME"], r.get("TYPE", "")) for r in blockdev.scan()
            if r.get("DEVNAME") and r.get("LABEL", "").lower() == label.lower()]


def mount_argv(device: str, fstype: str, mnt: str) -> list[str]:
    """mount -o ro with the type blkid saw: busybox mount only guesses among already loaded filesystems."""
    return ["mount", "-o", "ro", *(["-t", fstype] if fstype else []), device, mnt]


@contextlib.contextmanager
def mounted_ro(device: str, fstype: str = "") -> Iterator[Path]:
    """Mount `device` read-only on a temporary directory for the duration (its fs module loaded first)."""
    if fstype:   # iso9660 -> isofs etc. come as modules; best effort, mount names what is missing
        with contextlib.suppress(command.CommandError):
            module = "isofs" if fstype == "iso9660" else fstype
            command.run(["modprobe", "-q", module], f"modprobe {module}", MOUNT_TIMEOUT)
    with tempfile.TemporaryDirectory(prefix="ros-ds-") as mnt:
        try:
            command.run(mount_argv(device, fstype, mnt), f"mount {device}", MOUNT_TIMEOUT)
        except command.CommandError as e:
            raise DatasourceError(f"cannot mount {device}: {e}") from None
        try:
            yield Path(mnt)
        finally:
            try:
                command.run(["umount", mnt], f"umount {mnt}", MOUNT_TIMEOUT)
            except command.CommandError as e:
                log.warning("cloud-init: %s", e)


def _labelled(label: str, reader: Callable[[Path], Found | None], directory: str) -> Callable[[], Found | None]:
    """A reader over a directory if given, else over every filesystem labelled `label`."""
    def read() -> Found | None:
        if directory:
            return reader(Path(directory))
        for device, fstype in devices_with_label(label):
            with mounted_ro(device, fstype) as mnt:
                found = reader(mnt)
            if found:
                found.source = f"{found.source.split(':')[0]}:{device}"
                return found
        return None
    return read


def read_cmdline(cmdline: str) -> Found | None:
    """Base64 user-data in `rancher.cloud_init.user_data=` on the kernel command line."""
    for key, value in parse_cmdline_words(cmdline):
        if key == "rancher.cloud_init.user_data" and value:
            try:
                return Found("cmdline", base64.b64decode(value, validate=True))
            except (binascii.Error, ValueError):
                raise DatasourceError("rancher.cloud_init.user_data: not valid base64") from None
    return None


def cloud_config_url(cmdline: str) -> str | None:
    """`cloud-config-url=` from the kernel command line."""
    for key, value in parse_cmdline_words(cmdline):
        if key == "cloud-config-url" and value:
            return value
    return None


def read_url(url: str) -> Found | None:
    data = fetch_url(url, max_bytes=MAX_USERDATA)
    return Found(f"url:{url}", data) if data is not None else None


def read_ec2(base: str) -> Found | None:
    """The EC2 metadata service layout under `base` (…/latest)."""
    base = base.rstrip("/")

    def get(path: str) -> bytes | None:
        return fetch_url(f"{base}/{path}", max_bytes=MAX_USERDATA)

    def text(data: bytes | None) -> str:
        return (data or b"").decode("utf-8", "replace").strip()

    instance = get("meta-data/instance-id")
    if instance is None:
        return None
    hostname = get("meta-data/local-hostname") or get("meta-data/hostname")
    keys = []
    for line in text(get("meta-data/public-keys/")).splitlines():
        index = line.split("=", 1)[0].strip()
        key = get(f"meta-data/public-keys/{index}/openssh-key") if index.isdigit() else None
        if key:
            keys.append(text(key))
    meta = MetaData(text(instance), text(hostname), keys)
    return Found(f"ec2:{base}", get("user-data") or b"", meta)


def read_file(path: str) -> Found | None:
    p = Path(path)
    return Found(f"file:{path}", read_at_most(p)) if p.is_file() else None


def make(spec: str, cmdline: str = "") -> Datasource:
    """The datasource a config spec names; ConfigError for an unknown one."""
    kind, _, arg = spec.partition(":")
    if kind == "configdrive":
        return Datasource(spec, False, _labelled("config-2", read_configdrive, arg))
    if kind == "nocloud":
        return Datasource(spec, False, _labelled("cidata", read_nocloud, arg))
    if kind == "file" and arg:
        return Datasource(spec, False, lambda: read_file(arg))
    if kind in ("url", "http", "https") and (arg or kind != "url"):
        url = spec if kind != "url" else arg
        return Datasource(spec, True, lambda: read_url(url))
    if kind == "ec2":
        return Datasource(spec, True, lambda: read_ec2(arg or EC2_BASE))
    if kind == "cmdline":
        return Datasource(spec, False, lambda: read_cmdline(cmdline))
    raise ConfigError(f"rancher.cloud_init.datasources: unknown datasource {spec!r} "
                      "(configdrive, nocloud, cmdline, url:URL, ec2, file:PATH)")


def configured(specs: list[str], cmdline: str = "") -> list[Datasource]:
    """Datasources from config, plus `cloud-config-url=` from the command line as a network one."""
    out: list[Datasource] = []
    for spec in specs or []:
        try:
            out.append(make(str(spec), cmdline))
        except ConfigError as e:
            log.error("cloud-init: %s", e)
    url = cloud_config_url(cmdline)
    if url:
        out.append(make(f"url:{url}"))
    return out


def for_stage(specs: list[str], cmdline: str, network: bool) -> list[Datasource]:
    """The configured datasources one stage reads: the local ones, or those that need the network."""
    return [ds for ds in configured(list(specs), cmdline) if ds.network == network]
