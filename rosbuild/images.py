"""System images: recipes (images/<name>.yml) -> root filesystems from .debs -> one image archive.

Each recipe's packages become one layer on top of its `base` (the base's
packages are not repeated); all images go into one archive so a shared layer
is stored once. A recipe with `bootstrap:` (the catalog's consoles) is instead
one layer holding a whole root mmdebstrap made (rosbuild/bootstrap.py).
No Docker daemon is involved.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

import yaml

from rancheros import __version__
from rosbuild.errors import BuildError
from rancheros.sysdocker import imagestore
from rosbuild import bootstrap, busybox, debs, elf, oci, steps
from rosbuild import rootfs as rootfs_mod

RECIPES = steps.ROOT / "images"
ARCHIVE_NAME = "rancheros-images.tar"
STICKY_DIRS = ("/tmp", "/var/tmp")
KEYS = {"base", "packages", "exclude", "prune", "busybox", "ca_bundle", "files", "dirs", "links", "owners",
        "env", "entrypoint", "cmd", "workdir", "labels", "bootstrap"}


@dataclass
class Recipe:
    """One system image, as images/<name>.yml declares it."""

    name: str
    base: Optional[str] = None
    packages: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    prune: list[str] = field(default_factory=list)          # globs under / the image does not need
    busybox: bool = False
    ca_bundle: bool = False
    files: dict[str, dict] = field(default_factory=dict)   # path: {content, mode}
    dirs: list[str] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)
    owners: dict[str, list[int]] = field(default_factory=dict)
    env: list[str] = field(default_factory=list)
    entrypoint: Optional[list[str]] = None
    cmd: Optional[list[str]] = None
    workdir: str = "/"
    labels: dict[str, str] = field(default_factory=dict)
    bootstrap: Optional[bootstrap.Bootstrap] = None      # the whole root from mmdebstrap instead of .debs

    @property
    def tag(self) -> str:
        return f"rancheros/{self.name}:v{__version__}"

    @classmethod
    def load(cls, path: Path) -> "Recipe":
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise BuildError(f"{path}: {exc}") from exc
        if not isinstance(data, dict):
            raise BuildError(f"{path}: a recipe is a mapping, got {type(data).__name__}")
        unknown = set(data) - KEYS
        if unknown:
            raise BuildError(f"{path}: unknown keys {sorted(unknown)} (allowed: {sorted(KEYS)})")
        for key, value in data.get("files", {}).items():
            if not key.startswith("/") or not isinstance(value, dict) or "content" not in value:
                raise BuildError(f"{path}: files.{key} needs an absolute path and a `content`")
        if "bootstrap" in data:
            if data.get("base") or data.get("packages"):
                raise BuildError(f"{path}: a `bootstrap` recipe makes the whole root: no `base` or `packages` "
                                 "(list them under bootstrap.packages)")
            data["bootstrap"] = bootstrap.Bootstrap.parse(data["bootstrap"], str(path))
        return cls(name=path.stem, **data)


def load_all(directory: Path = RECIPES, bases: Iterable[Recipe] = ()) -> list[Recipe]:
    """Every recipe of `directory`, bases before the images built on them.

    `bases` are recipes from elsewhere an image may name as its base; those used come first in the list.
    """
    own = {p.stem: Recipe.load(p) for p in sorted(directory.glob("*.yml"))}
    recipes = {**{b.name: b for b in bases}, **own}
    ordered: list[Recipe] = []

    def visit(r: Recipe, chain: tuple[str, ...]) -> None:
        if r in ordered:
            return
        if r.base:
            if r.base not in recipes:
                where = directory / f"{r.name}.yml"
                raise BuildError(f"{where.relative_to(steps.ROOT) if where.is_relative_to(steps.ROOT) else where}: "
                                 f"base '{r.base}' has no recipe")
            if r.base in chain:
                raise BuildError(f"images: base cycle {' -> '.join(chain + (r.base,))}")
            visit(recipes[r.base], chain + (r.name,))
        ordered.append(r)

    for r in own.values():
        visit(r, ())
    return ordered


@dataclass
class BuiltImage:
    tag: str
    archive: Path
    packages: dict[str, str]
    layers: list[oci.Layer]
    config: bytes = b""


def _mode(value: object, where: str) -> int:
    """A file mode written as an octal string ("0640") or an int."""
    try:
        return value if isinstance(value, int) else int(str(value).replace("0o", ""), 8)
    except ValueError:
        raise BuildError(f"{where}: mode {value!r} is not an octal number like \"0644\"") from None


def _fill_rootfs(recipe: Recipe, rootfs: Path, pkg_trees: list[Path]) -> None:
    """Packages, then the recipe's dirs, files, links, busybox applets and CA bundle."""
    shutil.rmtree(rootfs, ignore_errors=True)
    debs.merge_trees(pkg_trees, rootfs)
    customize(recipe, rootfs)


def customize(recipe: Recipe, rootfs: Path) -> None:
    """The recipe's prune, dirs, files, links, busybox applets and CA bundle, laid on `rootfs`."""
    for pattern in recipe.prune:
        for p in sorted(rootfs.glob(pattern.lstrip("/")), reverse=True):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
    for d in recipe.dirs:
        (rootfs / d.lstrip("/")).mkdir(parents=True, exist_ok=True)
        if d.rstrip("/") in STICKY_DIRS:   # everyone may write there, only owners delete (as on any Linux)
            (rootfs / d.lstrip("/")).chmod(0o1777)
    for path, spec in recipe.files.items():
        f = rootfs / path.lstrip("/")
        f.parent.mkdir(parents=True, exist_ok=True)
        if f.is_symlink():
            f.unlink()
        f.write_text(spec["content"])
        f.chmod(_mode(spec.get("mode", "0644"), f"images/{recipe.name}.yml files.{path}"))
    for path, target in recipe.links.items():
        link = rootfs / path.lstrip("/")
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.is_file():
            link.unlink()
        elif link.is_dir():
            shutil.rmtree(link)
        link.symlink_to(target)
    if recipe.busybox:
        busybox.link_applets(rootfs)
    if recipe.ca_bundle:
        (rootfs / "etc/ssl/certs").mkdir(parents=True, exist_ok=True)
        (rootfs / "etc/ssl/certs/ca-certificates.crt").write_bytes(rootfs_mod.ca_bundle(rootfs))


def build_layer(recipe: Recipe, base_packages: set[str], update_lock: bool = False, force: bool = False
                ) -> tuple[Optional[oci.Layer], list[debs.Deb]]:
    """The recipe's own layer (None when it adds nothing) and its locked packages; `force` ignores stamps."""
    if recipe.bootstrap:
        return bootstrap_layer(recipe, force)
    locked: list[debs.Deb] = []
    trees: list[Path] = []
    if recipe.packages:
        pset = debs.PackageSet(f"image-{recipe.name}", tuple(recipe.packages),
                               tuple(sorted(set(recipe.exclude) | base_packages)))
        locked, trees = debs.fetch_and_extract(pset, update_lock)
    if not (locked or recipe.files or recipe.dirs or recipe.links):
        return None, locked
    work = steps.cache_dir() / "images" / recipe.name
    layer_path = work / "layer.tar"
    stamp = steps.Stamp(f"image-{recipe.name}", steps.hash_data(
        recipe.__dict__, [(d.name, d.version) for d in locked], steps.SOURCE_DATE_EPOCH,
        steps.hash_files([Path(__file__), Path(oci.__file__), Path(busybox.__file__)])))
    if force or not stamp.fresh(layer_path, work / "rootfs"):
        rootfs = work / "rootfs"
        _fill_rootfs(recipe, rootfs, trees)
        owners = {p: (int(o[0]), int(o[1])) for p, o in recipe.owners.items()}
        _write_layer(rootfs, layer_path, owners)
        stamp.done()
    return oci.Layer.from_file(layer_path), locked


def _write_layer(rootfs: Path, layer_path: Path, owners: dict[str, tuple[int, int]], keep_owners: bool = False) -> None:
    """The layer tar, written beside and renamed (a cache seeded with hard links keeps its own copy)."""
    tmp = layer_path.with_name(layer_path.name + ".tmp")
    with open(tmp, "wb") as f:
        oci.layer_tar(rootfs, f, steps.SOURCE_DATE_EPOCH, owners, keep_owners=keep_owners)
    os.replace(tmp, layer_path)


def bootstrap_layer(recipe: Recipe, force: bool = False) -> tuple[oci.Layer, list[debs.Deb]]:
    """The one layer of a `bootstrap` recipe, owners as mmdebstrap made them, and what dpkg installed."""
    assert recipe.bootstrap is not None
    work = steps.cache_dir() / "images" / recipe.name
    layer_path, rootfs = work / "layer.tar", work / "rootfs"
    stamp = steps.Stamp(f"image-{recipe.name}", steps.hash_data(
        recipe.__dict__, steps.SOURCE_DATE_EPOCH,
        steps.hash_files([Path(__file__), Path(oci.__file__), Path(bootstrap.__file__)])))
    if force or not stamp.fresh(layer_path, rootfs):
        bootstrap.build(recipe.bootstrap, rootfs)
        customize(recipe, rootfs)
        owners = {p: (int(o[0]), int(o[1])) for p, o in recipe.owners.items()}
        _write_layer(rootfs, layer_path, owners, keep_owners=True)
        stamp.done()
    installed = [debs.Deb(n, v, "", "") for n, v in bootstrap.installed_packages(rootfs).items()]
    return oci.Layer.from_file(layer_path), installed


def build_images(recipes: list[Recipe], archive: Path, update_lock: bool = False,
                 force: bool = False, only: Optional[Iterable[str]] = None) -> list[BuiltImage]:
    """Build the given recipes (bases first) into one archive; `force` rebuilds what stamps call fresh.

    With `only` (recipe names) the archive and the result hold just those images (bases are still built).
    """
    layers: dict[str, list[oci.Layer]] = {}
    pkgs: dict[str, dict[str, str]] = {}
    images: list[oci.Image] = []
    for r in recipes:
        base_layers = layers[r.base] if r.base else []
        base_pkgs = dict(pkgs[r.base]) if r.base else {}
        layer, locked = build_layer(r, set(base_pkgs), update_lock, force)
        layers[r.name] = base_layers + ([layer] if layer else [])
        pkgs[r.name] = {**base_pkgs, **{d.name: d.version for d in locked}}
        if not layers[r.name]:
            raise BuildError(f"images/{r.name}.yml: the image has no content (no base, packages or files)")
        images.append(oci.Image(r.tag, layers[r.name], r.entrypoint, r.cmd, r.env or _base_env(r, recipes),
                                r.workdir, r.labels, created=oci.rfc3339(steps.SOURCE_DATE_EPOCH)))
    if only is not None:
        keep = set(only)
        pairs = [(r, i) for r, i in zip(recipes, images) if r.name in keep]
        recipes, images = [r for r, _ in pairs], [i for _, i in pairs]
    archive.parent.mkdir(parents=True, exist_ok=True)
    stamp = steps.Stamp(f"archive-{archive.name}", steps.hash_data(
        [(i.tag, i.config().decode()) for i in images], str(archive)))
    if force or not stamp.fresh(archive):
        oci.write_archive(images, archive, steps.SOURCE_DATE_EPOCH)
        stamp.done()
    return [BuiltImage(i.tag, archive, pkgs[r.name], i.layers, i.config()) for r, i in zip(recipes, images)]


def write_store(built: list[BuiltImage], dest: Path) -> imagestore.Store:
    """The images unpacked for system Docker to run in place (rancheros/sysdocker/imagestore.py).

    Each distinct layer is unpacked once under dest/layers/<chain id>, owners and modes as in its tar.
    """
    layers: dict[str, imagestore.StoreLayer] = {}
    for img in built:
        diffs = [f"sha256:{l.digest}" for l in img.layers]
        chains = imagestore.chain_ids(diffs)
        for i, (layer, chain) in enumerate(zip(img.layers, chains)):
            if chain in layers:
                continue
            rel = f"layers/{chain.split(':', 1)[1]}"
            target = dest / rel
            target.mkdir(parents=True)
            with tarfile.open(layer.path) as tar:
                members = tar.getmembers()
                tar.extractall(target, members, numeric_owner=True)
            size = sum(m.size for m in members if m.isfile())
            layers[chain] = imagestore.StoreLayer(chain, diffs[i], chains[i - 1] if i else None, size, rel)
    store = imagestore.Store(list(layers.values()), [imagestore.StoreImage(i.tag, i.config) for i in built])
    (dest / imagestore.MANIFEST).write_text(store.to_json())
    return store


def _base_env(recipe: Recipe, recipes: list[Recipe]) -> list[str]:
    """An image without its own env inherits its base's."""
    by_name = {r.name: r for r in recipes}
    r: Optional[Recipe] = recipe
    while r is not None:
        if r.env:
            return r.env
        r = by_name.get(r.base) if r.base else None
    return []


def check_frozen_binary(frozen: Path, base: str = "os-base") -> None:
    """The frozen ros (bind-mounted into containers) must find its system libraries in the image `base`."""
    rootfs = steps.cache_dir() / "images" / base / "rootfs"
    internal = frozen / "_internal"
    try:
        elf.closure([frozen / "ros"], rootfs)
        elf.closure([p for p in internal.rglob("*") if p.is_file() and elf.is_elf(p)], rootfs,
                    provided=[internal])
    except BuildError as exc:
        raise BuildError(f"image {base} cannot run the bind-mounted ros binary: {exc}") from None


def build_all(update_lock: bool = False) -> list[BuiltImage]:
    """Every recipe under images/ into <cache>/images/rancheros-images.tar."""
    return build_images(load_all(), steps.cache_dir() / "images" / ARCHIVE_NAME, update_lock)
