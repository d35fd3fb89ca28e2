"""Which images a config needs: those of its system services and of the enabled catalog entries.

Which services a config enables is the service engine's rule
(`rancheros.sysdocker.catalog`); it is reused here, not restated.
"""

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def enabled_services(doc: dict, catalog_dir: Path | None = None) -> dict:
    """`rancher.services` overlaid by the catalog entries the config turns on; unknown entries are logged."""
    from rancheros.sysdocker.catalog import enabled_specs, load_catalog

    specs, problems = enabled_specs(doc, load_catalog(catalog_dir, doc=doc))
    for problem in problems:
        log.warning("%s", problem)
    return specs


def images(doc: dict, catalog_dir: Path | None = None) -> list[str]:
    """The images the enabled services need, each once, in service order."""
    out: list[str] = []
    for definition in enabled_services(doc, catalog_dir).values():
        image = definition.get("image") if isinstance(definition, dict) else None
        if isinstance(image, str) and image and image not in out:
            out.append(image)
    return out
