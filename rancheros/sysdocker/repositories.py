"""Catalog indexes from `rancher.repositories`: YAML over HTTP, cached on the state disk.

An index maps entry names to catalog documents (the format of rancheros/config/catalog/*.yml):

    my-addon: {kind: addon, description: ..., services: {my-addon: {image: ..., ...}}}

`refresh` fetches each configured index (the `ros service/addon/console` commands do, never the
boot); `cached_entries` reads the last good copies, so a boot needs no network for its catalog.
The bundled catalog (url `builtin`) wins over a repository entry of the same name.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from rancheros.cloudinit.fetch import DatasourceError, fetch_url
from rancheros.config.store import write_atomic
from rancheros.config.yamlio import parse_yaml
from rancheros.errors import ConfigError, ServiceError, StoreError

log = logging.getLogger(__name__)

BUILTIN = "builtin"
CACHE_DIR = Path(os.environ.get("ROS_REPOSITORY_CACHE", "/var/lib/rancher/cache/repositories"))
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Repository:
    """One `rancher.repositories` entry that is fetched (not the bundled catalog)."""

    name: str
    url: str

    def cache_file(self, cache_dir: Path) -> Path:
        return Path(cache_dir) / f"{self.name}.yml"


def configured(doc: dict) -> list[Repository]:
    """The fetched repositories of the config, by name; `builtin` ones are the bundled catalog."""
    repos = ((doc.get("rancher") or {}).get("repositories") or {})
    out = []
    for name, spec in sorted(repos.items()):
        url = str((spec or {}).get("url") or "").strip()
        if url and url != BUILTIN:
            out.append(Repository(str(name), url))
    return out


def parse_index(repo: str, text: str | bytes) -> dict[str, dict]:
    """The entries of one index text; ServiceError names what is wrong (the repository and the entry)."""
    from rancheros.sysdocker.catalog import parse_entry

    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ServiceError(f"repository {repo}: its index is not UTF-8 text (byte {e.start})") from None
    try:
        doc = parse_yaml(text, "index")
    except ConfigError as e:
        raise ServiceError(f"repository {repo}: its index is not YAML ({e})") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ServiceError(f"repository {repo}: its index must map entry names to catalog entries")
    for name, entry in doc.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise ServiceError(f"repository {repo}: entry name {name!r} is not a name (letters, digits, '-_.')")
        parse_entry(f"{name} (repository {repo})", entry)
    return doc


def refresh(doc: dict, cache_dir: Path = CACHE_DIR, say: Callable[[str], None] = log.warning,
            fetch: Callable[[str], bytes | None] = lambda url: fetch_url(url, timeout=10, retries=2)) -> None:
    """Fetch every configured index and keep the good ones; a failure says so and keeps the last copy."""
    for repo in configured(doc):
        cached = repo.cache_file(cache_dir)
        keeping = "keeping the copy fetched before" if cached.exists() else "no copy of it yet"
        try:
            data = fetch(repo.url)
            if data is None:
                raise ServiceError(f"{repo.url}: not found (HTTP 404)")
            parse_index(repo.name, data)
        except (DatasourceError, ServiceError) as e:
            prefix = f"repository {repo.name}: "
            say(f"{prefix}{str(e).removeprefix(prefix)}; {keeping}")
            continue
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(cached, data, 0o644)
        except (OSError, StoreError) as e:
            say(f"repository {repo.name}: fetched, but its copy cannot be kept ({e}; as root: sudo)")


def cached_entries(doc: dict, cache_dir: Path = CACHE_DIR) -> dict[str, tuple[str, dict]]:
    """entry name -> (repository, catalog document) from the cached indexes of the configured
    repositories; the first repository (by name) holding a name wins. A broken cache is logged, skipped."""
    out: dict[str, tuple[str, dict]] = {}
    for repo in configured(doc):
        try:
            entries = parse_index(repo.name, repo.cache_file(cache_dir).read_bytes())
        except FileNotFoundError:
            continue
        except (OSError, ServiceError) as e:
            log.warning("repository %s: cached index unusable: %s", repo.name, e)
            continue
        for name, entry in entries.items():
            out.setdefault(name, (repo.name, entry))
    return out
