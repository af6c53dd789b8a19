"""Several relays in failover order, with a shared "relay is down" backoff."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from mailer.delivery.smtp import FailureKind, Result, Transport, TransportError
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


class LocalRelayHealth:
    """Down marks kept in this object only: for a few messages sent by one
    process (a test send), which must not need Redis to reach a relay."""

    def __init__(self) -> None:
        self._down_until: dict[str, float] = {}

    def is_down(self, relay: str) -> bool:
        return self._down_until.get(relay, 0.0) > time.monotonic()

    def mark_down(self, relay: str, seconds: float) -> None:
        self._down_until[relay] = time.monotonic() + seconds


class AllRelaysDown(Exception):
    """No relay would take the message; the caller backs off the batch."""

    def __init__(self, last: TransportError | None):
        super().__init__(str(last) if last else "every relay is backing off")
        self.last = last


@dataclass(frozen=True)
class Handover:
    """The outcome of one submitted message."""

    tag: int
    relay: str | None = None  # the relay that accepted it
    error: TransportError | None = None  # why the relay that answered did not
    relays_down: AllRelaysDown | None = None  # no relay would take it: back off


@dataclass
class _Message:
    envelope_from: str
    recipient: str
    data: bytes
    started: float
    tried: set[str] = field(default_factory=set)
    last: TransportError | None = None


class RelayPool:
    """Sends through the first healthy relay; a RELAY failure marks that relay
    down for `backoff` seconds and the same message goes to the next one.

    Messages are streamed: `submit` returns the outcomes known so far (a
    pipelining relay answers a message with the next one's commands) and
    `drain` the rest. The pool keeps each message until its outcome is known,
    so that one refused by a closing relay can still go to the next.
    """

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
        self._in_flight: dict[int, _Message] = {}

    def _is_down(self, name: str) -> bool:
        now = time.monotonic()
        seen = self._health_seen.get(name)
        if seen is None or now - seen[0] >= HEALTH_CACHE_SECONDS:
            seen = (now, self.health.is_down(name))
            self._health_seen[name] = seen
        return seen[1]

    def submit(self, tag: int, envelope_from: str, recipient: str, data: bytes) -> list[Handover]:
        """Hand over one message (`tag` names it in the outcomes); return the
        outcomes now known, this message's or earlier ones'."""
        self._in_flight[tag] = _Message(envelope_from, recipient, data, time.perf_counter())
        return self._route(tag)

    def drain(self) -> list[Handover]:
        """Wait for every message handed over; return their outcomes."""
        done: list[Handover] = []
        while self._in_flight:  # a message failed over while draining goes round again
            answered = False
            for transport in self.transports:
                results = transport.drain()
                answered = answered or bool(results)
                done += self._settle(transport, results)
            if not answered:  # a transport lost a message: a bug
                raise RuntimeError(f"messages never answered: {sorted(self._in_flight)}")
        return done

    def _route(self, tag: int) -> list[Handover]:
        message = self._in_flight[tag]
        for transport in self.transports:
            if transport.name in message.tried or self._is_down(transport.name):
                continue
            if self.before_send:
                try:
                    self.before_send(transport.name)
                except AllRelaysDown as exc:
                    del self._in_flight[tag]
                    return [Handover(tag, relays_down=exc)]
            message.tried.add(transport.name)
            results = transport.submit(tag, message.envelope_from, message.recipient, message.data)
            return self._settle(transport, results)
        del self._in_flight[tag]
        return [Handover(tag, relays_down=AllRelaysDown(message.last))]

    def _settle(self, transport: Transport, results: list[Result]) -> list[Handover]:
        done: list[Handover] = []
        for tag, error in results:
            message = self._in_flight[tag]
            self.metrics.observe_smtp(
                transport.name,
                time.perf_counter() - message.started,
                "sent" if error is None else error.kind.value,
                250 if error is None else error.code,
            )
            if error is not None and error.kind is FailureKind.RELAY:
                self.health.mark_down(transport.name, self.backoff_seconds)
                self._health_seen[transport.name] = (time.monotonic(), True)
                message.last = error
                done += self._route(tag)  # the next relay, if any
                continue
            del self._in_flight[tag]
            done.append(Handover(tag, transport.name if error is None else None, error))
        return done

    def close(self) -> None:
        self._in_flight.clear()
        for t in self.transports:
            t.close()
