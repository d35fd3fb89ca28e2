"""Load the image archives an operator left in the preload directory into system Docker, once.

The system images need no loading (imagestore.py links them from the OS image); this is for
add-on images brought along on the state disk, as RancherOS's preload directories were.

An archive is skipped when every repo tag in its manifest.json already names
the archive's image ID, so a reboot with persistent state loads nothing.
"""

from __future__ import annotations

import json
import logging
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import docker
from docker.errors import DockerException, ImageNotFound

log = logging.getLogger(__name__)

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".tar.zst")
DEFAULT_DIR = "/var/lib/rancher/preload/system-docker"


@dataclass
class ArchiveImage:
    """One image described by an archive's manifest.json."""

    id: str  # sha256:...
    tags: list[str] = field(default_factory=list)


@dataclass
class PreloadResult:
    """What preload did with one archive and how long it took."""

    archive: str
    tags: list[str]
    loaded: bool
    seconds: float
    error: str | None = None


def image_id_from_config_path(config: str) -> str:
    """`<hex>.json` (docker save) or `blobs/sha256/<hex>` (OCI layout) -> `sha256:<hex>`."""
    stem = config.rsplit("/", 1)[-1]
    return "sha256:" + (stem[:-5] if stem.endswith(".json") else stem)


def parse_manifest(data: bytes | str) -> list[ArchiveImage]:
    """The images of a `docker save` manifest.json."""
    manifest = json.loads(data)
    if not isinstance(manifest, list):
        raise ValueError("manifest.json is not a list")
    return [ArchiveImage(image_id_from_config_path(m["Config"]), list(m.get("RepoTags") or []))
            for m in manifest]


def read_archive_manifest(path: Path) -> list[ArchiveImage]:
    """Read manifest.json from an (optionally compressed) image archive."""
    with tarfile.open(path, "r:*") as tar:
        member = tar.getmember("manifest.json")
        f = tar.extractfile(member)
        if f is None:
            raise ValueError("manifest.json is not a regular file")
        return parse_manifest(f.read())


def archives(preload_dir: str | Path) -> list[Path]:
    d = Path(preload_dir)
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if p.is_file() and p.name.endswith(ARCHIVE_SUFFIXES))


def already_present(client: docker.DockerClient, images: list[ArchiveImage]) -> bool:
    """True when the daemon has every image of the archive under every one of its tags."""
    for img in images:
        names = img.tags or [img.id]
        for name in names:
            try:
                if client.images.get(name).id != img.id:
                    return False
            except ImageNotFound:
                return False
    return bool(images)


def preload_images(client: docker.DockerClient, preload_dir: str | Path) -> list[PreloadResult]:
    """Load each archive under `preload_dir` the daemon lacks; a bad archive is reported, never fatal."""
    results = []
    for path in archives(preload_dir):
        t0 = time.monotonic()
        tags: list[str] = []
        try:
            images = read_archive_manifest(path)
            tags = [t for img in images for t in img.tags] or [img.id for img in images]
            if already_present(client, images):
                results.append(PreloadResult(str(path), tags, False, time.monotonic() - t0))
                log.info("image %s already loaded", ", ".join(tags))
                continue
            with open(path, "rb") as f:
                for message in client.api.load_image(f):  # a stream: loading ends when it does
                    if isinstance(message, dict) and message.get("error"):
                        raise ValueError(message["error"])
            if not already_present(client, images):
                raise ValueError("the daemon did not report the archive's images after loading it")
            seconds = time.monotonic() - t0
            results.append(PreloadResult(str(path), tags, True, seconds))
            log.info("image %s loaded in %.2fs", ", ".join(tags), seconds)
        except (OSError, KeyError, ValueError, tarfile.TarError, DockerException) as e:
            reason = getattr(e, "explanation", None) or str(e)
            results.append(PreloadResult(str(path), tags, False, time.monotonic() - t0, reason))
            log.error("image archive %s not loaded: %s", path, reason)
    return results
