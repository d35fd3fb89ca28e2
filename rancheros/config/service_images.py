"""Which images a config needs: those of its system services and of the enabled catalog services."""

import logging
from pathlib import Path

from rancheros.config.paths import PACKAGE_DIR
from rancheros.config.yamlio import parse_mapping
from rancheros.errors import ConfigError

log = logging.getLogger(__name__)

CATALOG_DIR = PACKAGE_DIR / "catalog"


def catalog_services(name: str, catalog_dir: Path = CATALOG_DIR) -> dict:
    """The service definitions of catalog entry NAME ({} when it has no file here)."""
    path = catalog_dir / f"{name}.yml"
    try:
        doc = parse_mapping(path.read_text(encoding="utf-8"), str(path))
    except FileNotFoundError:
        return {}
    except (OSError, ConfigError) as e:
        log.error("catalog entry %s unreadable: %s", name, e)
        return {}
    services = doc.get("services", doc)
    return services if isinstance(services, dict) else {}


def enabled_services(doc: dict, catalog_dir: Path = CATALOG_DIR) -> dict:
    """`rancher.services` plus the services of every `rancher.services_include.NAME: true`."""
    rancher = doc.get("rancher") or {}
    out = dict(rancher.get("services") or {})
    for name, on in (rancher.get("services_include") or {}).items():
        if on is True:
            for svc, definition in catalog_services(str(name), catalog_dir).items():
                out.setdefault(svc, definition)
    return out


def images(doc: dict, catalog_dir: Path = CATALOG_DIR) -> list[str]:
    """The images the enabled services need, each once, in service order."""
    out: list[str] = []
    for definition in enabled_services(doc, catalog_dir).values():
        image = definition.get("image") if isinstance(definition, dict) else None
        if isinstance(image, str) and image and image not in out:
            out.append(image)
    return out
