"""The catalog's images (rancheros/config/catalog names them): recipes in images/catalog, one archive.

Add-ons are ordinary recipes on os-base (the system images' .debs and lock file); consoles are
`bootstrap` recipes, whole roots from mmdebstrap. An image whose inputs this machine lacks (a build
setting, a keyring, a package) is skipped with one line and recorded so; nothing stands in for it.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Optional

from rosbuild import bootstrap, debs, images, steps

RECIPES = steps.ROOT / "images" / "catalog"
ARCHIVE_NAME = "catalog-images.tar"
SETTINGS = ("ubuntu-archive",)   # build settings recipes may name (bootstrap.mirror_setting)


@dataclass
class CatalogBuild:
    """The archive, the images in it, and the images skipped with their reasons (by tag)."""

    archive: Path
    built: list[images.BuiltImage] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)   # tag: catalog entry

    def manifest(self) -> dict:
        """manifest.json's `catalog`: per tag its layers and size, or why it was skipped."""
        out: dict[str, dict] = {}
        for img in self.built:
            layers = [{"digest": f"sha256:{l.digest}", "size": l.path.stat().st_size} for l in img.layers]
            out[img.tag] = {"catalog": self.names.get(img.tag), "layers": layers,
                            "size": sum(l["size"] for l in layers), "packages": img.packages}
        for tag, reason in self.skipped.items():
            out[tag] = {"catalog": self.names.get(tag), "skipped": reason}
        return out


def settings_from(given: Mapping[str, Optional[str]], environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The build settings: the command line's value, else $ROS_<NAME>; unset ones are left out."""
    out = {}
    for name in SETTINGS:
        value = given.get(name) or environ.get(bootstrap.setting_env(name), "")
        if value.strip():
            out[name] = value.strip()
    return out


def load_recipes(directory: Path = RECIPES) -> list[images.Recipe]:
    """The catalog recipes, after the system recipes they build on (os-base)."""
    return images.load_all(directory, bases=images.load_all())


def catalog_names() -> dict[str, str]:
    """{image tag: catalog entry} from the catalog the OS ships."""
    from rancheros.sysdocker import catalog as os_catalog
    entries = os_catalog.load_catalog()   # a broken catalog fails the build, through build.py's one line
    return {str(svc.get("image")): name for name, entry in entries.items() for svc in entry.services.values()
            if isinstance(svc, dict) and svc.get("image")}


def skip_reason(recipe: images.Recipe, settings: Mapping[str, str],
                exists: Callable[[str], bool] = os.path.exists,
                available: Callable[[Iterable[str]], set[str]] = debs.available) -> Optional[str]:
    """Why this machine cannot build the recipe (None: it can)."""
    if recipe.bootstrap:
        missing = bootstrap.missing_inputs(recipe.bootstrap, dict(settings), exists)
    else:
        absent = sorted(set(recipe.packages) - available(recipe.packages))
        missing = [f"no installation candidate for {', '.join(absent)} in the host's apt sources"] if absent else []
    return " and ".join(missing) or None


def skip_line(name: str, reason: str) -> str:
    return f"catalog: {name} skipped: {reason}"


def resolved(recipe: images.Recipe, settings: Mapping[str, str]) -> images.Recipe:
    """The recipe with its bootstrap mirror taken from the settings (the stamp then keys on it)."""
    boot = recipe.bootstrap
    if boot is None or not boot.mirror_setting:
        return recipe
    return dataclasses.replace(recipe, bootstrap=dataclasses.replace(boot, mirror=settings[boot.mirror_setting]))


def build(frozen: Optional[Path], settings: Mapping[str, str], update_lock: bool = False,
          archive: Path = steps.DIST / ARCHIVE_NAME, force: bool = False) -> CatalogBuild:
    """Every catalog image this machine can build into `archive`; the rest skipped with one line each.

    `frozen` (the frozen ros) is checked to run in each bootstrapped console, as in the system images.
    """
    names = catalog_names()
    recipes = load_recipes()
    own = {p.stem for p in RECIPES.glob("*.yml")}
    result = CatalogBuild(archive, names=names)
    wanted: list[images.Recipe] = []
    for r in recipes:
        if r.name not in own:
            wanted.append(r)   # a base from images/
            continue
        reason = skip_reason(r, settings)
        if reason:
            steps.say(skip_line(names.get(r.tag, r.name), reason))
            result.skipped[r.tag] = reason
        else:
            wanted.append(resolved(r, settings))
    built_names = [r.name for r in wanted if r.name in own]
    result.built = images.build_images(wanted, archive, update_lock, force, only=built_names)
    if frozen is not None:
        for r in wanted:
            if r.bootstrap:
                images.check_frozen_binary(frozen, r.name)
    for img in result.built:
        steps.say(f"catalog: {names.get(img.tag, img.tag)}: {img.tag} "
                  f"({sum(l.path.stat().st_size for l in img.layers) / 1e6:.1f} MB in {len(img.layers)} layers)")
    return result
