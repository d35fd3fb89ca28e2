"""Whole image roots from a distribution's archive with mmdebstrap (the catalog's consoles).

A console is a full userland where apt works, so it is bootstrapped (maintainer scripts run, dpkg's
database and the distribution's sources.list written) instead of merged from extracted .debs.
mmdebstrap's tree is the same bytes run after run under SOURCE_DATE_EPOCH and the same archive.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable, Optional

from rosbuild.errors import BuildError
from rosbuild import steps

TIMEOUT = 1800  # seconds for one bootstrap (about 25 s from a near mirror)
# dpkg leaves these out, now and for what apt installs later in the console (the options stay in the image).
DPKG_EXCLUDES = ["path-exclude=/usr/share/man/*", "path-exclude=/usr/share/info/*",
                 "path-exclude=/usr/share/locale/*", "path-include=/usr/share/locale/locale.alias",
                 "path-exclude=/usr/share/doc/*", "path-include=/usr/share/doc/*/copyright",
                 "path-exclude=/usr/share/lintian/*"]
# Never shipped: per-machine identity (host keys, machine-id, the build host's resolver and name),
# apt's lists and caches, logs, the device nodes of the bootstrap chroot, backups of dpkg's databases.
UNSHIPPED = ["etc/ssh/ssh_host_*", "etc/machine-id", "var/lib/dbus/machine-id", "etc/resolv.conf",
             "etc/hostname", "dev/*", "var/lib/apt/lists/*", "var/cache/apt/*.bin", "var/cache/apt/archives/*.deb",
             "var/cache/debconf/*-old", "var/lib/dpkg/*-old", "var/log/*.log", "var/log/apt/*",
             "tmp/*", "var/tmp/*", "root/.bash_history"]
APT_PARTIAL = ("var/lib/apt/lists/partial", "var/cache/apt/archives/partial")   # apt's downloads, owned by _apt


@dataclass(frozen=True)
class Bootstrap:
    """A recipe's `bootstrap:` mapping: which distribution release, from where, with which packages."""

    suite: str
    packages: tuple[str, ...] = ()
    variant: str = "apt"
    components: tuple[str, ...] = ("main",)
    extra_suites: tuple[str, ...] = ()     # with a mirror URL: more suites of it (updates, security)
    mirror: Optional[str] = None           # a URL or a sources line; None: mmdebstrap's own for the suite
    mirror_setting: Optional[str] = None   # the build setting that gives `mirror` (--NAME URL, ROS_NAME); no default
    keyring: Optional[str] = None          # the archive keyring apt checks the release with
    keyring_package: Optional[str] = None  # the Debian package that ships the keyring

    @classmethod
    def parse(cls, data: object, where: str) -> "Bootstrap":
        if not isinstance(data, dict) or not isinstance(data.get("suite"), str):
            raise BuildError(f"{where}: bootstrap is a mapping with at least a `suite`")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise BuildError(f"{where}: bootstrap: unknown keys {sorted(unknown)} (allowed: {sorted(known)})")
        lists = {k: tuple(str(v) for v in data[k]) for k in ("packages", "components", "extra_suites") if k in data}
        return cls(**{**data, **lists})


def setting_flag(name: str) -> str:
    return f"--{name}"


def setting_env(name: str) -> str:
    return "ROS_" + name.upper().replace("-", "_")


def missing_inputs(boot: Bootstrap, settings: dict[str, str],
                   exists: Callable[[str], bool] = os.path.exists) -> list[str]:
    """What this machine lacks to bootstrap it, one phrase each (empty: it can be built)."""
    missing = []
    if boot.mirror_setting and not settings.get(boot.mirror_setting):
        name = boot.mirror_setting
        missing.append(f"no {name} set ({setting_flag(name)} URL or {setting_env(name)})")
    if boot.keyring and not exists(boot.keyring):
        missing.append(f"no {boot.keyring_package or 'keyring'} ({boot.keyring})")
    return missing


def argv(boot: Bootstrap, target: Path) -> list[str]:
    """The mmdebstrap command that bootstraps `boot` into the directory `target`."""
    mirror = boot.mirror
    cmd = ["mmdebstrap", f"--variant={boot.variant}", "--mode=root", "--format=directory",
           f"--components={','.join(boot.components)}"]
    if boot.packages:
        cmd.append(f"--include={','.join(boot.packages)}")
    if boot.keyring:
        cmd.append(f"--keyring={boot.keyring}")
    cmd += [f"--dpkgopt={o}" for o in DPKG_EXCLUDES]
    cmd += [boot.suite, str(target)]
    if mirror:
        cmd.append(mirror)
        if "://" in mirror and not mirror.startswith("deb "):
            cmd += [f"deb {mirror} {s} {' '.join(boot.components)}" for s in boot.extra_suites]
    return cmd


def build(boot: Bootstrap, target: Path, timeout: float = TIMEOUT) -> None:
    """Bootstrap into `target` (emptied first) and remove what an image must not ship."""
    if shutil.which("mmdebstrap") is None:
        raise BuildError("mmdebstrap is not installed: apt-get install mmdebstrap (./build.py installs it)")
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(steps.SOURCE_DATE_EPOCH), LC_ALL="C.UTF-8")
    if boot.mirror_setting and not boot.mirror:
        raise BuildError(f"bootstrap {boot.suite}: no mirror: set {setting_flag(boot.mirror_setting)} URL "
                         f"or {setting_env(boot.mirror_setting)}")
    steps.run(argv(boot, target), env=env, timeout=timeout)
    clean(target)
    apt_partial_dirs(target)


def clean(root: Path) -> None:
    """Delete the UNSHIPPED paths under `root`."""
    for pattern in UNSHIPPED:
        for p in sorted(root.glob(pattern), reverse=True):
            if str(p.relative_to(root)) in APT_PARTIAL:
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()


def apt_partial_dirs(root: Path) -> None:
    """apt's partial dirs owned by the tree's _apt, as on an installed system (mode 0700).

    apt leaves them root's when its sandbox user cannot reach the target (a path under a 0700
    directory), so without this the tree's bytes would depend on where it was built.
    """
    uid = next((int(f[2]) for f in (l.split(":") for l in (root / "etc/passwd").read_text().splitlines())
                if len(f) > 3 and f[0] == "_apt"), 0)
    for rel in APT_PARTIAL:
        d = root / rel
        d.mkdir(parents=True, exist_ok=True)
        os.chown(d, uid, 0)
        d.chmod(0o700)


def installed_packages(root: Path) -> dict[str, str]:
    """{package: version} of what dpkg's database in `root` says is installed."""
    out: dict[str, str] = {}
    try:
        text = (root / "var/lib/dpkg/status").read_text()
    except OSError as exc:
        raise BuildError(f"{root}: no dpkg database ({exc})") from exc
    for stanza in text.split("\n\n"):
        f = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and not line.startswith(" "))
        if "Package" in f and f.get("Status", "").endswith(" installed"):
            out[f["Package"]] = f.get("Version", "")
    return dict(sorted(out.items()))
