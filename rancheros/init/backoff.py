"""Restart delays for things PID 1 supervises (the boot manager, system dockerd)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Backoff:
    """Exponential delay between restarts; a run that lasted `stable_after` seconds resets it.

    Pure: callers pass the clock, so the policy is testable without sleeping.
    """

    initial: float = 1.0
    factor: float = 2.0
    maximum: float = 30.0
    stable_after: float = 60.0
    failures: int = 0

    def next_delay(self, ran_for: float) -> float:
        """Delay before the next start, given how long the last run lasted."""
        if ran_for >= self.stable_after:
            self.failures = 0
        delay = min(self.maximum, self.initial * self.factor ** self.failures)
        self.failures += 1
        return delay
