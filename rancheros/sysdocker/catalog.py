"""The service catalog (rancheros/config/catalog/*.yml) and which services a config enables.

A catalog file holds `kind` (service|addon|console), `description` and
`services` (Compose-subset definitions; `images` below lists their images
for `ros config images`). A console defines a service named
`console`, laid over the default console's definition (image, name label).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path

from rancheros.config.merge import deep_merge
from rancheros.config.paths import PACKAGE_DIR
from rancheros.config.yamlio import parse_yaml
from rancheros.errors import ConfigError, ServiceError

log = logging.getLogger(__name__)

CATALOG_DIR = PACKAGE_DIR / "catalog"   # the bundled entries, data of the config package
KINDS = ("service", "addon", "console")
CONSOLE_SERVICE = "console"   # the service every console defines; a catalog console is laid over the default's
DEFAULT_CONSOLE = "default"


@dataclass
class CatalogEntry:
    """One catalog file: the services it brings and what it is for."""

    name: str
    kind: str
    description: str
    services: dict[str, dict] = field(default_factory=dict)
    repository: str = "builtin"   # where it came from: the bundled catalog, or a rancher.repositories name


def parse_entry(name: str, doc: dict) -> CatalogEntry:
    """Validate one catalog document; ServiceError names the file's problem."""
    if not isinstance(doc, dict):
        raise ServiceError(f"catalog {name}: must be a mapping of services")
    kind = doc.get("kind", "service")
    if kind not in KINDS:
        raise ServiceError(f"catalog {name}: kind {kind!r} is not one of {', '.join(KINDS)}")
    services = doc.get("services")
    if not isinstance(services, dict) or not services:
        raise ServiceError(f"catalog {name}: `services` must map at least one service name to its definition")
    if kind == "console" and "console" not in services:
        raise ServiceError(f"catalog {name}: a console must define the service 'console'")
    return CatalogEntry(name, kind, str(doc.get("description", "")), services)


def load_catalog(directory: Path | None = None, doc: dict | None = None,
                 cache_dir: Path | None = None) -> dict[str, CatalogEntry]:
    """Every *.yml under `directory`, by file name without the extension; with `doc`, also the cached
    indexes of its rancher.repositories (a bundled name wins over a repository's)."""
    from rancheros.sysdocker import repositories

    out: dict[str, CatalogEntry] = {}
    for path in sorted(Path(directory or CATALOG_DIR).glob("*.yml")):
        try:
            entry = parse_yaml(path.read_bytes(), str(path))
        except OSError as e:
            raise ServiceError(f"catalog file {path}: {e.strerror or e}") from None
        except ConfigError as e:  # names the file, line and column
            raise ServiceError(f"catalog file {e}") from None
        out[path.stem] = parse_entry(path.stem, entry)
    if doc is not None:
        cached = repositories.cached_entries(doc, cache_dir or repositories.CACHE_DIR)
        for name, (repo, entry) in sorted(cached.items()):
            if name in out:
                log.warning("repository %s: entry %s is ignored: the bundled catalog has one of that name", repo, name)
                continue
            out[name] = dataclasses.replace(parse_entry(name, entry), repository=repo)
    return out


def included_names(doc: dict) -> list[str]:
    """Catalog entries the config turns on: services_include NAME: true, and a non-default console."""
    rancher = doc.get("rancher") or {}
    names = [str(n) for n, on in (rancher.get("services_include") or {}).items() if on is True or
             str(on).lower() == "true"]
    console = rancher.get("console") or DEFAULT_CONSOLE
    if console != DEFAULT_CONSOLE and console not in names:
        names.append(str(console))
    return names


def enabled_specs(doc: dict, catalog: dict[str, CatalogEntry]) -> tuple[dict[str, dict], list[str]]:
    """(service name -> definition, problems): rancher.services overlaid by the enabled catalog entries."""
    specs = copy.deepcopy((doc.get("rancher") or {}).get("services") or {})
    problems = []
    for name in included_names(doc):
        entry = catalog.get(name)
        if entry is None:
            problems.append(f"services_include names {name}, which is not in the catalog "
                            f"(known: {', '.join(sorted(catalog)) or 'none'})")
            continue
        for service, definition in entry.services.items():
            if entry.kind == "console" and service == CONSOLE_SERVICE:
                definition = deep_merge(specs.get(CONSOLE_SERVICE) or {}, definition)
            specs[service] = copy.deepcopy(definition)
    return specs, problems


def console_names(catalog: dict[str, CatalogEntry]) -> list[str]:
    """Every console one can choose: the default, then the catalog's."""
    return [DEFAULT_CONSOLE, *sorted(n for n, e in catalog.items() if e.kind == "console")]


def with_console(doc: dict, name: str) -> dict:
    """A copy of `doc` whose rancher.console is `name` (what a switch or a fallback would run)."""
    out = copy.deepcopy(doc)
    out.setdefault("rancher", {})["console"] = name
    return out


def images(doc: dict, catalog_dir: Path | None = None) -> list[str]:
    """The images a config's enabled services need (its system services and catalog entries), each once."""
    specs, problems = enabled_specs(doc, load_catalog(catalog_dir, doc=doc))
    for problem in problems:
        log.warning("%s", problem)
    out: list[str] = []
    for definition in specs.values():
        image = definition.get("image") if isinstance(definition, dict) else None
        if isinstance(image, str) and image and image not in out:
            out.append(image)
    return out
