"""Image archives without a Docker daemon: `docker load` format plus an OCI layout, byte-reproducible.

One archive holds any number of images; a layer shared by several images is
stored once (blobs/sha256/<digest>). manifest.json (what `docker load` reads)
and index.json/oci-layout (OCI) point at the same blobs.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import stat
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterable, Optional


def rfc3339(epoch: int) -> str:
    """The image `created` time from SOURCE_DATE_EPOCH."""
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _json(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def layer_tar(root: Path, out: BinaryIO, mtime: int,
              owners: Optional[dict[str, tuple[int, int]]] = None, keep_owners: bool = False) -> None:
    """A layer tar of the tree at `root`: sorted, fixed mtime, uid/gid 0 unless `owners` says so.

    `keep_owners` takes each file's uid/gid from the tree (`owners` still wins) and stores hard links as links.
    """
    owners = owners or {}
    linked: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for rel in sorted(str(p.relative_to(root)) for p in Path(root).rglob("*")):
            path = Path(root) / rel
            st = os.lstat(path)
            info = tarfile.TarInfo(rel)
            info.mtime = mtime
            info.mode = stat.S_IMODE(st.st_mode)
            info.uid, info.gid = owners.get("/" + rel, (st.st_uid, st.st_gid) if keep_owners else (0, 0))
            info.uname = info.gname = ""
            if stat.S_ISLNK(st.st_mode):
                info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)
                tar.addfile(info)
            elif stat.S_ISDIR(st.st_mode):
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif stat.S_ISREG(st.st_mode) and keep_owners and st.st_nlink > 1 and (st.st_dev, st.st_ino) in linked:
                info.type, info.linkname = tarfile.LNKTYPE, linked[(st.st_dev, st.st_ino)]
                tar.addfile(info)
            elif stat.S_ISREG(st.st_mode):
                if keep_owners and st.st_nlink > 1:
                    linked[(st.st_dev, st.st_ino)] = rel
                info.size = st.st_size
                with open(path, "rb") as f:
                    tar.addfile(info, f)


@dataclass
class Layer:
    """An uncompressed layer tar on disk and its sha256 (= its diff ID and blob digest)."""

    path: Path
    digest: str

    @classmethod
    def from_file(cls, path: Path) -> "Layer":
        with open(path, "rb") as f:
            return cls(Path(path), hashlib.file_digest(f, "sha256").hexdigest())


@dataclass
class Image:
    """One image: tag (repo:tag), layers lowest first, and its run configuration."""

    tag: str
    layers: list[Layer]
    entrypoint: Optional[list[str]] = None
    cmd: Optional[list[str]] = None
    env: list[str] = field(default_factory=list)
    workdir: str = "/"
    labels: dict[str, str] = field(default_factory=dict)
    created: str = "2023-11-14T22:13:20Z"

    def config(self) -> bytes:
        cfg = {"Env": self.env, "WorkingDir": self.workdir, "Labels": self.labels or None}
        if self.entrypoint is not None:
            cfg["Entrypoint"] = self.entrypoint
        if self.cmd is not None:
            cfg["Cmd"] = self.cmd
        return _json({
            "architecture": "amd64", "os": "linux", "created": self.created,
            "config": cfg,
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{l.digest}" for l in self.layers]},
            "history": [{"created": self.created, "created_by": "rosbuild"} for _ in self.layers],
        })


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: int, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), mtime, mode
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str, mtime: int) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mtime, info.mode = tarfile.DIRTYPE, mtime, 0o755
    info.uname = info.gname = ""
    tar.addfile(info)


def write_archive(images: Iterable[Image], out: Path, mtime: int) -> Path:
    """Write the images into one archive at `out` (written to a temp name, then renamed)."""
    images = list(images)
    blobs: dict[str, tuple[Optional[Path], Optional[bytes]]] = {}
    manifest, index_manifests, repositories = [], [], {}
    for img in images:
        config = img.config()
        cdig = _digest(config)
        blobs[cdig] = (None, config)
        for layer in img.layers:
            blobs[layer.digest] = (layer.path, None)
        manifest.append({"Config": f"blobs/sha256/{cdig}", "RepoTags": [img.tag],
                         "Layers": [f"blobs/sha256/{l.digest}" for l in img.layers]})
        oci_manifest = _json({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": f"sha256:{cdig}",
                       "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": f"sha256:{l.digest}",
                        "size": l.path.stat().st_size} for l in img.layers]})
        mdig = _digest(oci_manifest)
        blobs[mdig] = (None, oci_manifest)
        index_manifests.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                "digest": f"sha256:{mdig}", "size": len(oci_manifest),
                                "annotations": {"io.containerd.image.name": f"docker.io/{img.tag}",
                                                "org.opencontainers.image.ref.name": img.tag.rsplit(":", 1)[1]}})
        repo, tag = img.tag.rsplit(":", 1)
        repositories.setdefault(repo, {})[tag] = img.layers[-1].digest if img.layers else cdig
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": index_manifests}
    tmp = out.with_name(out.name + ".tmp")
    with tarfile.open(tmp, "w", format=tarfile.GNU_FORMAT) as tar:
        _add_dir(tar, "blobs", mtime)
        _add_dir(tar, "blobs/sha256", mtime)
        for digest in sorted(blobs):
            path, data = blobs[digest]
            if data is None:
                info = tarfile.TarInfo(f"blobs/sha256/{digest}")
                info.size, info.mtime, info.mode = path.stat().st_size, mtime, 0o644
                info.uname = info.gname = ""
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                _add_bytes(tar, f"blobs/sha256/{digest}", data, mtime)
        _add_bytes(tar, "index.json", _json(index), mtime)
        _add_bytes(tar, "manifest.json", _json(manifest), mtime)
        _add_bytes(tar, "oci-layout", _json({"imageLayoutVersion": "1.0.0"}), mtime)
        _add_bytes(tar, "repositories", _json(repositories), mtime)
    os.replace(tmp, out)
    return out
