"""`ros os upgrade|rollback|list`: write the other slot from an image, try it once, go back.

An image comes from a file, an http(s) URL (its `.sha256` fetched from beside it and checked before
anything is written) or a version of the index at `rancher.upgrade.url`. Upgrades never touch the
running slot or the state partition.
"""

from __future__ import annotations

import hashlib
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Callable

from rancheros.config.yamlio import parse_yaml
from rancheros.errors import ConfigError, InstallError
from rancheros.init.osimage import sha256_of
from rancheros.install import bootenv, bootslot, grub, initrd, installer, layout, slots

Say = Callable[[str], None]
DOWNLOAD_DIR = "/var/lib/rancher/os-upgrade"   # on the state disk: an image is large for the RAM root
HTTP_TIMEOUT = 60.0
MAX_INDEX = 1 << 20  # bytes of an upgrade index


@dataclass(frozen=True)
class Fetched:
    """An upgrade image ready on the state disk, with the checksum it was verified against."""

    path: str
    sha256: str
    origin: str


def other(slot: str) -> str:
    return "B" if slot == "A" else "A"


def _is_url(source: str) -> bool:
    return urllib.parse.urlsplit(source).scheme in ("http", "https")


def _get(url: str) -> urllib.response.addinfourl:
    try:
        return urllib.request.urlopen(url, timeout=HTTP_TIMEOUT)
    except urllib.error.HTTPError as e:
        raise InstallError(f"{url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        raise InstallError(f"{url}: {getattr(e, 'reason', None) or e}") from None


def parse_sha256(text: str, what: str) -> str:
    """The digest of a `sha256sum` line (pure)."""
    word = (text.split() or [""])[0].lower()
    if not initrd.is_sha256(word):
        raise InstallError(f"{what} holds no sha256")
    return word


def index_versions(index_url: str) -> dict[str, str]:
    """version -> image URL of the index YAML (`versions: [{version: V, url: U}]`, URLs relative to it)."""
    with _get(index_url) as r:
        raw = r.read(MAX_INDEX + 1)
    if len(raw) > MAX_INDEX:
        raise InstallError(f"{index_url}: more than {MAX_INDEX >> 20} MiB, too big for an upgrade index")
    try:
        doc = parse_yaml(raw, index_url) or {}
    except ConfigError as e:
        raise InstallError(f"{e}; not an upgrade index") from None
    try:
        entries = doc["versions"]
        return {str(e["version"]): urllib.parse.urljoin(index_url, str(e["url"])) for e in entries}
    except (KeyError, TypeError, AttributeError) as e:
        raise InstallError(f"{index_url}: not an upgrade index (versions: [{{version, url}}]): {e}") from None


def resolve(source: str, index_url: str) -> str:
    """A file, a URL, or a version of the index."""
    if _is_url(source) or os.path.exists(source):
        return source
    if not index_url:
        raise InstallError(f"{source}: no such file, not a URL, and rancher.upgrade.url is not set")
    versions = index_versions(index_url)
    if source not in versions:
        raise InstallError(f"{source}: not in {index_url} (it offers: {', '.join(versions) or 'nothing'})")
    return versions[source]


def fetch(source: str, say: Say) -> Fetched:
    """The image of `source` on local disk with its checked digest."""
    if not _is_url(source):
        path = os.path.abspath(source)
        if not os.path.isfile(path):
            raise InstallError(f"{source}: no such file")
        got = sha256_of(path)
        if os.path.exists(path + ".sha256"):
            with open(path + ".sha256") as f:
                want = parse_sha256(f.read(), path + ".sha256")
            if got != want:
                raise InstallError(f"{path}: sha256 {got}, but {path}.sha256 says {want}")
        else:
            say(f"no {os.path.basename(path)}.sha256 beside it: sha256 {got} (not checked against one)")
        return Fetched(path, got, path)
    with _get(source + ".sha256") as r:
        want = parse_sha256(r.read(4096).decode("ascii", "replace"), source + ".sha256")
    os.makedirs(DOWNLOAD_DIR, exist_ok=True)
    dest = os.path.join(DOWNLOAD_DIR, "rancheros.img")
    h, done, last = hashlib.sha256(), 0, time.monotonic()
    with _get(source) as r, open(dest + ".part", "wb") as f:
        total = int(r.headers.get("Content-Length") or 0)
        while chunk := r.read(1 << 20):
            f.write(chunk)
            h.update(chunk)
            done += len(chunk)
            if time.monotonic() - last >= slots.PROGRESS_EVERY:
                say(f"  downloading: {done / 1e6:.0f}" + (f" of {total / 1e6:.0f}" if total else "") + " MB")
                last = time.monotonic()
    if h.hexdigest() != want:
        os.unlink(dest + ".part")
        raise InstallError(f"{source}: sha256 {h.hexdigest()}, but {source}.sha256 says {want}; nothing written")
    os.replace(dest + ".part", dest)
    say(f"downloaded {done / 1e6:.1f} MB, sha256 {want} checked")
    return Fetched(dest, want, source)


def upgrade(source: str, index_url: str, force: bool, say: Say) -> slots.SlotInfo:
    """Write `source` to the other slot and make the next boot try it once; returns what was written."""
    boot, running = bootslot.boot_dir(), bootslot.booted()
    if bootslot.on_trial(boot):
        raise InstallError(f"slot {running.slot} is on trial until services are up; upgrade after that")
    target = other(running.slot or "A")
    fetched = fetch(resolve(source, index_url), say)
    with slots.image_root(fetched.path) as root:
        new = slots.image_info(root, fetched.sha256)
        current = bootslot.info(boot, running.slot or "A")
        if current and current.sha256 == new.sha256 and not force:
            raise InstallError(f"{new.version} (sha256 {new.sha256[:12]}) is what runs now; add -f to write it anyway")
        say(f"writing {new.version} to slot {target} (running: {current.version if current else '?'} "
            f"in slot {running.slot})")
        base_cmdline = installer.read_text(slots.boot_file(root, "cmdline")).strip()
        with bootslot.writable(boot):
            slots.write_slot(boot, target, fetched.path, root, new, say)
            titles = {s: (i.version if (i := bootslot.info(boot, s)) else "") for s in layout.SLOTS}
            installer.write_grub_files(boot, base_cmdline, _append(boot), titles)
            env = bootslot.read_env(boot)
            env.try_once(target, new.version)
            env.values.pop("rolled_back", None)
            bootenv.write(os.path.join(boot, bootslot.ENV_PATH), env)
    if fetched.path.startswith(DOWNLOAD_DIR):
        os.unlink(fetched.path)
    say(f"the next boot tries {new.version} (slot {target}) once; if it does not reach services up it "
        f"comes back to slot {running.slot}")
    return new


def _append(boot: str) -> str:
    try:
        return installer.read_text(os.path.join(boot, grub.GRUB_DIR, installer.APPEND_FILE)).strip()
    except OSError:
        return ""


def rollback(say: Say) -> str:
    """The other slot boots from the next boot on; returns its version."""
    boot, running = bootslot.boot_dir(), bootslot.booted()
    target = other(running.slot or "A")
    info = bootslot.info(boot, target)
    if info is None:
        raise InstallError(f"slot {target} holds no OS: nothing to roll back to")
    env = bootslot.read_env(boot)
    env.mark_good(target)
    env.values.pop("rolled_back", None)
    bootslot.write_env(boot, env)
    say(f"the next boot runs {info.version} (slot {target})")
    return info.version


def list_lines(index_url: str) -> list[str]:
    """Both slots (which runs, which boots next), a rolled-back upgrade, and the index's versions."""
    boot, running = bootslot.boot_dir(), bootslot.booted()
    env = bootslot.read_env(boot)
    nxt = env.next_slot or env.boot_slot
    lines = []
    for s in layout.SLOTS:
        i = bootslot.info(boot, s)
        marks = [m for m, on in (("running", s == running.slot), ("boots next", s == nxt)) if on]
        lines.append(f"slot {s}: {i.version if i else '(empty)'}" + (f" ({', '.join(marks)})" if marks else ""))
    if env.values.get("rolled_back"):
        lines.append(env.values["rolled_back"])
    if index_url:
        try:
            lines += [f"offered: {v} {u}" for v, u in index_versions(index_url).items()]
        except InstallError as e:
            lines.append(f"offered: cannot read the index: {e}")
    return lines
