"""Pulling an image with progress: Docker's pull stream summed over layers, one line every few seconds.

Docker reports a failed pull as an `error` event inside a stream that itself succeeded: it is raised here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from rancheros.errors import ServiceError
from rancheros.log import SAY_EVERY

MB = 1_000_000


@dataclass
class PullProgress:
    """Bytes downloaded and expected, per layer, from the events of one pull."""

    downloaded: dict[str, tuple[int, int]] = field(default_factory=dict)  # layer -> (current, total)
    done: set[str] = field(default_factory=set)

    def update(self, event: dict) -> None:
        """Take one event of the pull stream; ServiceError for an `error` event."""
        if event.get("error"):
            raise ServiceError(str(event.get("error")).strip())
        layer, status = event.get("id"), event.get("status", "")
        if not layer or layer.count(":"):
            return
        detail = event.get("progressDetail") or {}
        if status == "Downloading" and detail.get("total"):
            self.downloaded[layer] = (int(detail.get("current") or 0), int(detail["total"]))
        elif status in ("Download complete", "Pull complete", "Already exists"):
            self.done.add(layer)
            current, total = self.downloaded.get(layer, (0, 0))
            self.downloaded[layer] = (total or current, total or current)

    def line(self) -> str:
        """`12.3/61.0 MB, 1/3 layers`: what the terminal shows."""
        current = sum(c for c, _ in self.downloaded.values())
        total = sum(t for _, t in self.downloaded.values())
        layers = len(set(self.downloaded) | self.done)
        return f"{current / MB:.1f}/{total / MB:.1f} MB, {len(self.done)}/{layers} layers"


def follow(events: Iterable[dict], name: str, say: Callable[[str], None], every: float = SAY_EVERY,
           clock: Callable[[], float] = time.monotonic) -> PullProgress:
    """Consume a decoded pull stream, saying `pulling NAME: progress` every `every` seconds and at the end."""
    progress, last = PullProgress(), clock()
    for event in events:
        progress.update(event)
        if clock() - last >= every:
            last = clock()
            say(f"pulling {name}: {progress.line()}")
    say(f"pulled {name} ({progress.line()})")
    return progress
