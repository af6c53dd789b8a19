"""Several relays in failover order, with a shared "relay is down" backoff."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from mailer.delivery.smtp import FailureKind, Transport, TransportError
from mailer.metrics import MetricsSink, NullMetrics

HEALTH_CACHE_SECONDS = 1.0


class RelayHealth(Protocol):
    """Where relays are marked down, shared by every worker (Redis in production)."""

    def is_down(self, relay: str) -> bool: ...

    def mark_down(self, relay: str, seconds: float) -> None: ...


class RedisRelayHealth:
    def __init__(self, client: object, *, prefix: str = "mailer:relay-down:") -> None:
        self.client = client
        self.prefix = prefix

    # Redis trouble must not stop mail by itself: health is advisory (the
    # rate limiter, which is not, stops the batch when Redis is gone).
    def is_down(self, relay: str) -> bool:
        try:
            return bool(self.client.exists(self.prefix + relay))  # type: ignore[attr-defined]
        except Exception:
            return False

    def mark_down(self, relay: str, seconds: float) -> None:
        with contextlib.suppress(Exception):
            self.client.set(self.prefix + relay, "1", px=max(1, int(seconds * 1000)))  # type: ignore[attr-defined]


class AllRelaysDown(Exception):
    """No relay would take the message; the caller backs off the batch."""

    def __init__(self, last: TransportError | None):
        super().__init__(str(last) if last else "every relay is backing off")
        self.last = last


class RelayPool:
    """Sends through the first healthy relay; a RELAY failure marks that relay
    down for `backoff` seconds and the same message goes to the next one."""

    def __init__(
        self,
        transports: Sequence[Transport],
        health: RelayHealth,
        *,
        backoff_seconds: float,
        before_send: Callable[[str], None] | None = None,
        metrics: MetricsSink | None = None,
    ) -> None:
        self.transports = list(transports)
        self.health = health
        self.backoff_seconds = backoff_seconds
        self.before_send = before_send
        self.metrics = metrics or NullMetrics()
        # Health is asked once a second per relay, not once per message.
        self._health_seen: dict[str, tuple[float, bool]] = {}

    def _is_down(self, name: str) -> bool:
        now = time.monotonic()
        seen = self._health_seen.get(name)
        if seen is None or now - seen[0] >= HEALTH_CACHE_SECONDS:
            seen = (now, self.health.is_down(name))
            self._health_seen[name] = seen
        return seen[1]

    def send(self, envelope_from: str, recipient: str, data: bytes) -> str:
        """Return the name of the relay that accepted the message.

        Raises TransportError (DEFER, PERMANENT, AMBIGUOUS) from the relay that
        answered, or AllRelaysDown.
        """
        last: TransportError | None = None
        for transport in self.transports:
            if self._is_down(transport.name):
                continue
            if self.before_send:
                self.before_send(transport.name)
            started = time.perf_counter()
            try:
                transport.send(envelope_from, recipient, data)
                self.metrics.observe_smtp(
                    transport.name, time.perf_counter() - started, "sent", 250
                )
                return transport.name
            except TransportError as exc:
                self.metrics.observe_smtp(
                    transport.name, time.perf_counter() - started, exc.kind.value, exc.code
                )
                if exc.kind is not FailureKind.RELAY:
                    raise
                last = exc
                self.health.mark_down(transport.name, self.backoff_seconds)
                self._health_seen[transport.name] = (time.monotonic(), True)
        raise AllRelaysDown(last)

    def close(self) -> None:
        for t in self.transports:
            t.close()
