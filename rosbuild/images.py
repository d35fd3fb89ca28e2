"""System images from recipes (placeholder until the recipes land)."""
from __future__ import annotations
from dataclasses import dataclass
from pathlib import Path


@dataclass
class BuiltImage:
    tag: str
    archive: Path
    packages: dict


def build_all(update_lock: bool = False) -> list[BuiltImage]:
    return []
