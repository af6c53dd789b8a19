"""Retry policy: named, explicit, in one place."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter until a deadline measured from the send's start.

    A deferred row is retried after base * factor**(attempts-1) seconds (capped
    at `max_seconds`, ±`jitter`), and fails for good once the next try would
    fall after the deadline.
    """

    base_seconds: float = 60.0
    factor: float = 2.0
    max_seconds: float = 3600.0
    jitter: float = 0.2
    deadline_seconds: float = 6 * 3600.0
    relay_backoff_seconds: float = 30.0

    def next_attempt(
        self, *, attempts: int, started_at: datetime, now: datetime, rng: random.Random
    ) -> datetime | None:
        """Return when to try again, or None if the deadline has passed."""
        delay = min(self.max_seconds, self.base_seconds * self.factor ** max(0, attempts - 1))
        delay *= 1 + rng.uniform(-self.jitter, self.jitter)
        when = now + timedelta(seconds=delay)
        if when > started_at + timedelta(seconds=self.deadline_seconds):
            return None
        return when
