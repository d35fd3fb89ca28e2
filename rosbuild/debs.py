"""Debian packages: dependency closure, lock file, download to the cache, extraction.

A *package set* (a recipe's `packages`, minus its `exclude`, optionally kept to
`only` patterns) is resolved once by apt's own solver and pinned in the lock file;
later builds read versions from the lock, so a second build downloads nothing.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from rosbuild.errors import BuildError
from rosbuild import steps

log = logging.getLogger(__name__)

LOCK_FILE = steps.ROOT / "images" / "packages.lock"
# Packages that only matter to dpkg/maintainer scripts, never at run time in our images.
NEVER = {"debconf", "cdebconf", "debconf-2.0", "perl-base", "dpkg", "init-system-helpers", "adduser",
         "ucf", "runit-helper", "lsb-base", "sysvinit-utils", "sensible-utils", "install-info",
         "debianutils", "base-files", "base-passwd", "passwd", "login", "libpam-runtime",
         "systemd", "systemd-sysv", "systemd-timesyncd", "dbus", "libc-bin", "usrmerge",
         "linux-base", "initramfs-tools", "mount", "tzdata", "media-types", "readline-common",
         "netbase", "libdebconfclient0", "gcc-12-base"}
# Files nobody reads on a container host.
PRUNE = ["usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "usr/share/lintian",
         "usr/share/bug", "usr/share/bash-completion", "usr/share/zsh", "usr/share/fish",
         "usr/share/gdb", "usr/share/i18n", "usr/share/apport", "usr/share/menu",
         "usr/share/doc-base", "usr/share/common-licenses", "usr/share/pixmaps",
         "etc/init.d", "etc/rc0.d", "etc/rc1.d", "etc/rc2.d", "etc/rc3.d", "etc/rc4.d", "etc/rc5.d",
         "etc/rc6.d", "etc/rcS.d", "lib/systemd/system", "usr/lib/systemd/system", "etc/cron.daily",
         "etc/logrotate.d", "usr/share/initramfs-tools", "etc/initramfs-tools"]


@dataclass(frozen=True)
class PackageSet:
    """What one recipe asks for: root packages, exclusions, and an optional allow-list of patterns."""

    name: str
    packages: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    only: tuple[str, ...] = ()

    def key(self) -> dict:
        return {"packages": sorted(self.packages), "exclude": sorted(self.exclude), "only": sorted(self.only)}


@dataclass(frozen=True)
class Deb:
    name: str
    version: str
    arch: str
    sha256: str

    @property
    def filename(self) -> str:
        return f"{self.name}_{self.version.replace(':', '%3a')}_{self.arch}.deb"


# ---- parsing apt output (pure) ------------------------------------------

_INST = re.compile(r"^Inst (\S+) \((\S+) .*\[(\S+)\]\)", re.M)
# What a dpkg status entry of a held package keeps of its archive record.
_HELD_FIELDS = ("Package", "Version", "Architecture", "Multi-Arch", "Provides", "Essential")


def stanzas(text: str) -> list[dict[str, str]]:
    """The field dictionaries of an apt/dpkg control listing (continuation lines dropped)."""
    out = []
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line and not line.startswith((" ", "\t")) and ":" in line:
                k, v = line.split(":", 1)
                fields[k] = v.strip()
        if "Package" in fields:
            out.append(fields)
    return out


def parse_show(text: str) -> dict[str, Deb]:
    """Parse `apt-cache show --no-all-versions` stanzas into {name: Deb}."""
    debs: dict[str, Deb] = {}
    for fields in stanzas(text):
        if fields["Package"] not in debs:
            debs[fields["Package"]] = Deb(fields["Package"], fields["Version"],
                                          fields.get("Architecture", "amd64"), fields.get("SHA256", ""))
    return debs


def held_status(show_text: str) -> str:
    """dpkg status entries that mark these archive records installed, with no dependencies.

    Each gets a version of its own ("+held"): at the archive's, apt would merge the entry with the
    archive's record, take that record's dependencies and install them to mend the "broken"
    package. It provides itself at the archive's version, for dependencies pinned with "=".
    """
    out = []
    for fields in stanzas(show_text):
        held = {k: fields[k] for k in _HELD_FIELDS if k in fields}
        version = held["Version"]
        held["Version"] = version + "+held"
        held["Provides"] = ", ".join(filter(None, [held.get("Provides"), f"{held['Package']} (= {version})"]))
        held["Status"] = "install ok installed"
        out.append("\n".join(f"{k}: {v}" for k, v in held.items()))
    return "\n\n".join(out) + "\n" if out else ""


def parse_inst(text: str) -> dict[str, str]:
    """{name: version} of the `Inst` lines of an `apt-get install -s` run."""
    return {m.group(1).split(":")[0]: m.group(2) for m in _INST.finditer(text)}


def excluded(name: str, pset: PackageSet) -> bool:
    """Whether a name stays out of the set (debs.NEVER, the recipe's exclude, outside its only)."""
    if name in pset.packages:
        return False
    if name in NEVER or any(fnmatch.fnmatch(name, p) for p in pset.exclude):
        return True
    return bool(pset.only) and not any(fnmatch.fnmatch(name, p) for p in pset.only)


# ---- apt I/O -------------------------------------------------------------

def _apt_show(names: Iterable[str]) -> dict[str, Deb]:
    """The archive records of these names (or name=version specs)."""
    names = sorted(set(names))
    if not names:
        return {}
    out = steps.run(["apt-cache", "show", "--no-all-versions", *names])
    return parse_show(out)


def available(names: Iterable[str]) -> set[str]:
    """Which of these names the host's apt sources offer (a real package with a candidate)."""
    names = sorted(set(names))
    return _real_packages(names) if names else set()


def _real_packages(names: Iterable[str]) -> set[str]:
    """Which of these names are real (non-virtual) packages apt knows."""
    out = steps.run(["apt-cache", "policy", *sorted(set(names))])
    real, current = set(), None
    for line in out.splitlines():
        if not line.startswith(" ") and line.endswith(":"):
            current = line[:-1]
        elif current and line.strip().startswith("Candidate:") and "(none)" not in line:
            real.add(current)
    return real


def _simulate_install(packages: Iterable[str], held: set[str], tmp: Path) -> dict[str, str]:
    """apt-get's own solution for installing these packages on an empty system holding `held`."""
    status, ext = tmp / "status", tmp / "extended_states"
    status.write_text(held_status(steps.run(["apt-cache", "show", "--no-all-versions", *sorted(held)]))
                      if held else "")
    ext.write_text("")
    return parse_inst(steps.run(["apt-get", "install", "-s", "-q", "--no-install-recommends",
                                 f"-o=Dir::State::status={status}", f"-o=Dir::State::extended_states={ext}",
                                 "-o=Debug::NoLocking=1", *sorted(packages)]))


def resolve(pset: PackageSet) -> dict[str, Deb]:
    """The dependency closure of a package set, by apt's own solver.

    What the set leaves out (NEVER, `exclude`, outside `only`) is held: marked installed with no
    dependencies, so apt neither installs it nor follows it; a round repeats while apt's answer
    names a package the set leaves out, which is then held too.
    """
    missing = set(pset.packages) - _real_packages(pset.packages)
    if missing:
        raise BuildError(f"recipe '{pset.name}': unknown Debian packages {sorted(missing)} (apt-get update?)")
    held = _real_packages(NEVER - set(pset.packages))
    with tempfile.TemporaryDirectory(prefix="ros-apt-") as tmp:
        for _ in range(10):
            chosen = _simulate_install(pset.packages, held, Path(tmp))
            more = {n for n in chosen if excluded(n, pset)}
            if not more:
                return _apt_show(f"{n}={v}" for n, v in chosen.items())
            held |= more
    raise BuildError(f"recipe '{pset.name}': apt still asks for excluded packages after 10 rounds: {sorted(more)}")


# ---- lock file -------------------------------------------------------------

def load_lock(path: Path = LOCK_FILE) -> dict:
    if not path.exists():
        return {"sets": {}}
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise BuildError(f"{path}: not valid JSON ({exc}); delete it to re-resolve") from exc


def save_lock(lock: dict, path: Path = LOCK_FILE) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(lock, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def locked(pset: PackageSet, update: bool = False, path: Path = LOCK_FILE) -> list[Deb]:
    """The pinned packages of a set; resolves and records them when the set is new or changed."""
    lock = load_lock(path)
    entry = lock["sets"].get(pset.name)
    if update or entry is None or entry.get("request") != pset.key():
        steps.say(f"resolving Debian packages for '{pset.name}' into {path.name}")
        debs = resolve(pset)
        entry = {"request": pset.key(),
                 "packages": {d.name: [d.version, d.arch, d.sha256] for d in debs.values()}}
        lock["sets"][pset.name] = entry
        save_lock(lock, path)
    return [Deb(n, v, a, s) for n, (v, a, s) in sorted(entry["packages"].items())]


# ---- download and extract ---------------------------------------------------

def parse_madison(text: str) -> set[tuple[str, str]]:
    """The (name, version) pairs an `apt-cache madison` listing offers."""
    pairs = set()
    for line in text.splitlines():
        cols = [c.strip() for c in line.split("|")]
        if len(cols) >= 3:
            pairs.add((cols[0], cols[1]))
    return pairs


def unavailable(debs: Iterable[Deb]) -> list[Deb]:
    """The pinned packages the archive no longer offers (Debian's security archive keeps only the latest)."""
    debs = list(debs)
    if not debs:
        return []
    offered = parse_madison(steps.run(["apt-cache", "madison", *sorted({d.name for d in debs})]))
    return [d for d in debs if (d.name, d.version) not in offered]


def _deb_dir() -> Path:
    dest = steps.cache_dir() / "debs"
    dest.mkdir(parents=True, exist_ok=True)
    return dest


def fetch(debs: Iterable[Deb]) -> dict[str, Path]:
    """Download what the cache lacks (`apt-get download name=version`), verify sha256."""
    debs = list(debs)
    dest = _deb_dir()
    missing = [d for d in debs if not (dest / d.filename).exists()]
    if missing:
        steps.say(f"downloading {len(missing)} .deb files")
        try:
            steps.run(["apt-get", "download", "-q", *[f"{d.name}={d.version}" for d in missing]], cwd=dest)
        except BuildError as exc:
            raise BuildError(f"{exc}\n(a pinned version may have left the archive: run `apt-get update`, "
                             f"then `./build.py build --update-lock` to re-pin)") from None
    paths = {}
    for d in debs:
        p = dest / d.filename
        if not p.exists():
            raise BuildError(f"apt-get download did not produce {p.name}")
        if d in missing and d.sha256 and steps.sha256_file(p) != d.sha256:
            p.unlink()
            raise BuildError(f"{p.name}: sha256 differs from the lock file")
        paths[d.name] = p
    return paths


def extract(deb: Deb, path: Path) -> Path:
    """Unpack one .deb (no maintainer scripts) into the cache, pruned of docs; reused across builds."""
    out = steps.cache_dir() / "extract" / deb.filename[:-4]
    if (out / ".done").exists():
        return out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    steps.run(["dpkg-deb", "-x", str(path), str(out)])
    for rel in PRUNE:
        target = out / rel
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
    (out / ".done").write_text(deb.version)
    return out


def fetch_and_extract(pset: PackageSet, update_lock: bool = False) -> tuple[list[Deb], list[Path]]:
    """Locked packages of a set and their extracted trees (in package-name order).

    A pin the archive dropped and the cache lacks is re-resolved with a warning, so a clean
    machine still builds after a Debian security update; the lock file records the new pins.
    """
    debs = locked(pset, update_lock)
    cache = _deb_dir()
    gone = unavailable([d for d in debs if not (cache / d.filename).exists()])
    if gone:
        steps.say(f"warning: '{pset.name}': the archive no longer has "
                  f"{', '.join(f'{d.name} {d.version}' for d in gone)}; re-pinning the set")
        debs = locked(pset, update=True)
    paths = fetch(debs)
    return debs, [extract(d, paths[d.name]) for d in debs]


def merge_trees(trees: Iterable[Path], dest: Path) -> None:
    """Copy extracted package trees into one root with Debian 12's merged /usr (bin, sbin, lib -> usr)."""
    dest.mkdir(parents=True, exist_ok=True)
    for d in ("bin", "sbin", "lib", "lib64"):
        (dest / "usr" / d).mkdir(parents=True, exist_ok=True)
        if not (dest / d).is_symlink():
            (dest / d).symlink_to(f"usr/{d}")
    for tree in trees:
        for src in sorted(Path(tree).rglob("*")):
            rel = src.relative_to(tree)
            if rel.parts[0] == ".done":
                continue
            if rel.parts[0] in ("bin", "sbin", "lib", "lib64"):
                rel = Path("usr", *rel.parts)
            target = dest / rel
            if src.is_dir() and not src.is_symlink():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_symlink() or target.exists():
                target.unlink()
            if src.is_symlink():
                target.symlink_to(os.readlink(src))
            else:
                shutil.copy2(src, target)
