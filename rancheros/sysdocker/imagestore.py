"""System images without `docker load`: the OS image carries them unpacked, boot links them into dockerd.

The build unpacks each image layer under `<store>/layers/<chain id>` of the read-only OS image and
describes them in `<store>/store.json`. Before system dockerd starts, `seed` writes the few small
files of Docker's overlay2 layout (layerdb, imagedb, repositories.json) into its data root and points
each layer's `diff` directory at the read-only tree. The first boot loads nothing, and the state disk
holds no copy of a system image. Layers seeded from an older OS image are unlinked once it is gone.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from rancheros.errors import DockerError

log = logging.getLogger(__name__)

STORE_DIR = "/usr/share/rancheros/store"
MANIFEST = "store.json"
SEEDED = "rancheros-seeded.json"  # in the data root: what an earlier boot seeded, to clean up after it


def chain_ids(diff_ids: list[str]) -> list[str]:
    """Docker's chain IDs of a layer stack (lowest first): each names a layer and all below it."""
    chains: list[str] = []
    for diff in diff_ids:
        chains.append(diff if not chains else "sha256:" + hashlib.sha256(f"{chains[-1]} {diff}".encode()).hexdigest())
    return chains


def cache_id(chain: str) -> str:
    """The overlay2 directory name of a seeded layer: derived, so every boot and build agrees."""
    return hashlib.sha256(b"rancheros-store:" + chain.encode()).hexdigest()


def link_id(chain: str) -> str:
    """overlay2's short name (26 characters of [A-Z2-7]) under l/, which keeps mount options short."""
    return base64.b32encode(hashlib.sha256(b"rancheros-link:" + chain.encode()).digest()).decode()[:26]


@dataclass(frozen=True)
class StoreLayer:
    chain: str
    diff_id: str
    parent: str | None
    size: int
    path: str  # relative to the store directory


@dataclass(frozen=True)
class StoreImage:
    tag: str
    config: bytes

    @property
    def id(self) -> str:
        return "sha256:" + hashlib.sha256(self.config).hexdigest()


@dataclass
class Store:
    """What store.json describes: the layers (parents before children) and the tagged images."""

    layers: list[StoreLayer] = field(default_factory=list)
    images: list[StoreImage] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps({"layers": [l.__dict__ for l in self.layers],
                           "images": [{"tag": i.tag, "config": i.config.decode()} for i in self.images]},
                          sort_keys=True, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "Store":
        data = json.loads(text)
        return cls([StoreLayer(**l) for l in data["layers"]],
                   [StoreImage(i["tag"], i["config"].encode()) for i in data["images"]])

    @classmethod
    def load(cls, store_dir: str | os.PathLike) -> "Store":
        path = Path(store_dir) / MANIFEST
        try:
            return cls.from_json(path.read_text())
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise DockerError(f"system image store {path} is unreadable: {e}") from None


@dataclass
class SeedReport:
    layers: int = 0
    images: int = 0
    removed: int = 0


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _seed_layer(layer: StoreLayer, store_dir: Path, data_root: Path, links: dict[str, str]) -> bool:
    """One layer's layerdb entry and overlay2 directory; False when it was already there."""
    hexid = layer.chain.split(":", 1)[1]
    meta = data_root / "image/overlay2/layerdb/sha256" / hexid
    cid = cache_id(layer.chain)
    links[layer.chain] = link_id(layer.chain)
    if (meta / "cache-id").is_file() and (meta / "cache-id").read_text() == cid:
        return False
    ov = data_root / "overlay2"
    layer_dir = ov / cid
    shutil.rmtree(layer_dir, ignore_errors=True)
    layer_dir.mkdir(parents=True, mode=0o710)
    (layer_dir / "diff").symlink_to(store_dir / layer.path)
    (layer_dir / "link").write_text(links[layer.chain])
    if layer.parent:
        lowers = [f"l/{links[layer.parent]}"]
        parent_lower = ov / cache_id(layer.parent) / "lower"
        if parent_lower.is_file():
            lowers.append(parent_lower.read_text())
        (layer_dir / "lower").write_text(":".join(lowers))
        (layer_dir / "work").mkdir(mode=0o700)
    (ov / "l").mkdir(parents=True, exist_ok=True)
    short = ov / "l" / links[layer.chain]
    if short.is_symlink():
        short.unlink()
    short.symlink_to(f"../{cid}/diff")
    tmp = meta.with_name(hexid + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "diff").write_text(layer.diff_id)
    (tmp / "size").write_text(str(layer.size))
    (tmp / "cache-id").write_text(cid)
    if layer.parent:
        (tmp / "parent").write_text(layer.parent)
    shutil.rmtree(meta, ignore_errors=True)
    os.replace(tmp, meta)
    return True


def _unseed(data_root: Path, chains: list[str], image_ids: list[str]) -> int:
    """Remove layers and images an earlier boot seeded that the current OS image no longer has."""
    for chain in chains:
        shutil.rmtree(data_root / "image/overlay2/layerdb/sha256" / chain.split(":", 1)[1], ignore_errors=True)
        layer_dir = data_root / "overlay2" / cache_id(chain)
        shutil.rmtree(layer_dir, ignore_errors=True)
        short = data_root / "overlay2/l" / link_id(chain)
        if short.is_symlink():
            short.unlink()
    for image_id in image_ids:
        content = data_root / "image/overlay2/imagedb/content/sha256" / image_id.split(":", 1)[1]
        if content.exists():
            content.unlink()
    return len(chains)


def seed(store_dir: str | os.PathLike, data_root: str | os.PathLike) -> SeedReport:
    """Make every image of the store known to a (stopped) system dockerd at `data_root`; idempotent."""
    store_dir, data_root = Path(store_dir), Path(data_root)
    store = Store.load(store_dir)
    report = SeedReport()
    record = data_root / SEEDED
    try:
        before = json.loads(record.read_text())
    except (OSError, ValueError):
        before = {"layers": [], "images": []}
    links: dict[str, str] = {}
    for layer in store.layers:
        if not (store_dir / layer.path).is_dir():
            raise DockerError(f"system image store: layer {layer.chain} is missing ({store_dir / layer.path})")
        report.layers += _seed_layer(layer, store_dir, data_root, links)
    content = data_root / "image/overlay2/imagedb/content/sha256"
    content.mkdir(parents=True, exist_ok=True)
    (data_root / "image/overlay2/imagedb/metadata/sha256").mkdir(parents=True, exist_ok=True)
    for img in store.images:
        path = content / img.id.split(":", 1)[1]
        if not path.is_file():
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_bytes(img.config)
            os.replace(tmp, path)
            report.images += 1
    repos_file = data_root / "image/overlay2/repositories.json"
    try:
        repos = json.loads(repos_file.read_text()).get("Repositories") or {}
    except (OSError, ValueError, AttributeError):
        repos = {}
    current_ids = {i.id for i in store.images}
    stale_images = [i for i in before.get("images", []) if i not in current_ids]
    for refs in repos.values():
        for ref in [r for r, i in refs.items() if i in stale_images]:
            del refs[ref]
    for img in store.images:
        repos.setdefault(img.tag.rsplit(":", 1)[0], {})[img.tag] = img.id
    _write(repos_file, json.dumps({"Repositories": {k: v for k, v in repos.items() if v}}))
    current_chains = {l.chain for l in store.layers}
    report.removed = _unseed(data_root, [c for c in before.get("layers", []) if c not in current_chains],
                             stale_images)
    _write(record, json.dumps({"layers": sorted(current_chains), "images": sorted(current_ids)}))
    return report
