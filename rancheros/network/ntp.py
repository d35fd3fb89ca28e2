"""The ntp service: OpenNTPD with the servers of rancher.network.ntp.servers.

Debian's busybox has no ntpd applet, so the image carries openntpd; this
writes its config from ours and replaces the process with it.
"""

import os
from pathlib import Path

from rancheros.config.store import write_atomic

CONF = Path("/etc/openntpd/ntpd.conf")
NTPD = "/usr/sbin/ntpd"
PRIVSEP_DIR = Path("/run/openntpd")  # the shared /run is mounted over the image's copy
DEFAULT_SERVERS = ["pool.ntp.org"]


def conf_text(servers: list[str] | None) -> str:
    """ntpd.conf: one `servers` line per name (a pool name resolves to several)."""
    names = [str(s).strip() for s in (servers or DEFAULT_SERVERS) if str(s).strip()] or DEFAULT_SERVERS
    return "".join(f"servers {name}\n" for name in names)


def exec_ntpd(servers: list[str] | None, conf: Path = CONF, privsep_dir: Path = PRIVSEP_DIR) -> None:
    """Write the config and become ntpd in the foreground, setting the clock at once (-s)."""
    conf.parent.mkdir(parents=True, exist_ok=True)
    privsep_dir.mkdir(mode=0o755, parents=True, exist_ok=True)  # ntpd chroots its unprivileged half there
    write_atomic(conf, conf_text(servers).encode(), 0o644)
    os.execv(NTPD, ["ntpd", "-d", "-s", "-f", str(conf)])
