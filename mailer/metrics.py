"""Worker-side metrics, kept in Redis so every process on every host adds to
the same numbers; the web app's `/metrics` reads them back (see
`mailer.web.routes.metrics`).

Layout: one Redis hash per series family under `prefix`, one field per label
set (the label values as a JSON array, so relay names with ':' or anything
else need no escaping). Counters and histogram buckets only ever grow
(`HINCRBY` / `HINCRBYFLOAT`); buckets are cumulative per `le`, as Prometheus
wants them. Two gauges (last dispatcher tick, lag of the last started send)
are plain `HSET`s.

Metrics must never stop mail: every write is one pipelined round trip, and a
Redis error is logged (at most once a minute) and swallowed. After an error
writes are skipped for `pause_seconds`, so a Redis that hangs cannot slow
every delivery by a socket timeout.
"""

from __future__ import annotations

import bisect
import functools
import json
import logging
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from mailer.delivery.outage_notice import REDIS

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "mailer:metrics:"

#: SMTP transaction time (MAIL..DATA reply), seconds. A relay that queues
#: answers in milliseconds; a slow content filter can take many seconds.
SMTP_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
#: Time one rate-limiter call waited for its tokens, seconds.
RATE_WAIT_BUCKETS: tuple[float, ...] = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5)

#: Outcomes `observe_smtp` accepts: "sent" or a `FailureKind` value.
SMTP_OUTCOMES = frozenset({"sent", "relay", "defer", "permanent", "ambiguous"})
#: Statuses `count_outcome` accepts (the `DeliveryStatus` values an attempt can end in).
OUTCOME_STATUSES = frozenset(
    {"sent", "deferred", "failed", "pending", "skipped", "cancelled", "unknown"}
)

# Hash names (after the prefix). The route reads the same names.
SENT = "messages_sent_total"  # [relay]
SMTP_ATTEMPTS = "smtp_attempts_total"  # [relay, outcome]
SMTP_SECONDS = "smtp_seconds"  # histogram: _bucket [relay, le], _sum / _count [relay]
OUTCOMES = "delivery_outcomes_total"  # [status, code]
RATE_WAIT = "rate_wait_seconds"  # histogram: _bucket [relay, le], _sum / _count [relay]
DISPATCHER = "dispatcher"  # fields: last_tick, last_start_lag_seconds, last_start_at
LAST_TICK = "last_tick"
LAST_START_LAG = "last_start_lag_seconds"
LAST_START_AT = "last_start_at"


class MetricsSink(Protocol):
    """What the delivery path reports. Implementations never raise."""

    def observe_smtp(self, relay: str, seconds: float, outcome: str, code: int | None) -> None:
        """One SMTP attempt on `relay` took `seconds` and ended in `outcome`
        ("sent" or a FailureKind value) with reply `code` (None: no reply)."""

    def count_outcome(self, status: str, code: int | None) -> None:
        """One delivery attempt was recorded as `status` (a DeliveryStatus
        value) after reply `code` (None: no SMTP reply, e.g. render failure)."""

    def rate_wait(self, relay: str, seconds: float) -> None:
        """One rate-limiter call for `relay` waited `seconds` for its tokens."""

    def dispatcher_tick(self, now: datetime) -> None:
        """The dispatcher finished a tick at `now` (aware)."""

    def send_started(self, lag_seconds: float) -> None:
        """A send started `lag_seconds` after its scheduled time."""

    def flush(self) -> None:
        """Write what a buffered sink holds (no-op for unbuffered sinks)."""


class NullMetrics:
    """Reports nothing (tests, one-off commands)."""

    def observe_smtp(self, relay: str, seconds: float, outcome: str, code: int | None) -> None:
        pass

    def count_outcome(self, status: str, code: int | None) -> None:
        pass

    def rate_wait(self, relay: str, seconds: float) -> None:
        pass

    def dispatcher_tick(self, now: datetime) -> None:
        pass

    def send_started(self, lag_seconds: float) -> None:
        pass

    def flush(self) -> None:
        pass


@functools.lru_cache(maxsize=4096)  # label sets are few; this runs per message
def field_name(*labels: str) -> str:
    """Return the hash field for one label set."""
    return json.dumps(list(labels), ensure_ascii=False, separators=(",", ":"))


def parse_field(field: bytes | str) -> tuple[str, ...] | None:
    """Return the label values stored in a hash field, or None if it is not one of ours."""
    try:
        text = field.decode() if isinstance(field, bytes) else field
        values = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        return None
    return tuple(values)


@functools.lru_cache(maxsize=256)
def format_le(bound: float) -> str:
    """The `le` label of a bucket bound as Prometheus clients write it (`0.5`, `1.0`, `+Inf`)."""
    return "+Inf" if math.isinf(bound) else repr(float(bound))


def code_label(code: int | None) -> str:
    """A reply code as a bounded label value: "250", "451", …, "none" or "other"."""
    if code is None:
        return "none"
    return str(code) if 200 <= code < 600 else "other"


def _known(value: object, allowed: frozenset[str]) -> str:
    text = str(value)
    return text if text in allowed else "other"


class RedisMetrics:
    """A MetricsSink on Redis hashes (HINCRBY / HINCRBYFLOAT, one pipeline per call)."""

    def __init__(
        self,
        client: Any,
        prefix: str = DEFAULT_PREFIX,
        *,
        pause_seconds: float = 30.0,
        smtp_buckets: Sequence[float] = SMTP_BUCKETS,
        rate_wait_buckets: Sequence[float] = RATE_WAIT_BUCKETS,
        buffered: bool = False,
    ) -> None:
        self.client = client
        self.prefix = prefix
        # Buffered (the delivery path): events are summed in memory and written
        # by flush(), once per group of outcomes, not one round trip per message.
        self.buffered = buffered
        self._held: dict[tuple[str, str, str], float] = {}
        self._held_counts: dict[tuple[str, tuple[str, ...]], int] = {}
        self._held_hists: dict[tuple[str, str, tuple[float, ...]], list[float]] = {}
        self.pause_seconds = pause_seconds
        self.smtp_buckets = tuple(sorted(smtp_buckets))
        self.rate_wait_buckets = tuple(sorted(rate_wait_buckets))
        self._paused_until = 0.0
        self._last_logged = -math.inf

    # -- the sink ---------------------------------------------------------------

    def observe_smtp(self, relay: str, seconds: float, outcome: str, code: int | None) -> None:
        outcome = _known(outcome, SMTP_OUTCOMES)
        if self.buffered:  # once per message: count now, spell the fields at flush
            self._count(SMTP_ATTEMPTS, (relay, outcome))
            if outcome == "sent":
                self._count(SENT, (relay,))
            self._observe(SMTP_SECONDS, relay, seconds, self.smtp_buckets)
            return
        ops: list[tuple[str, str, str, float]] = [
            ("incr", SMTP_ATTEMPTS, field_name(relay, outcome), 1)
        ]
        if outcome == "sent":
            ops.append(("incr", SENT, field_name(relay), 1))
        ops += self._histogram(SMTP_SECONDS, relay, seconds, self.smtp_buckets)
        self._write(ops)

    def count_outcome(self, status: str, code: int | None) -> None:
        status = _known(status, OUTCOME_STATUSES)
        if self.buffered:
            self._count(OUTCOMES, (status, code_label(code)))
            return
        self._write([("incr", OUTCOMES, field_name(status, code_label(code)), 1)])

    def rate_wait(self, relay: str, seconds: float) -> None:
        if self.buffered:
            self._observe(RATE_WAIT, relay, seconds, self.rate_wait_buckets)
            return
        self._write(self._histogram(RATE_WAIT, relay, seconds, self.rate_wait_buckets))

    def dispatcher_tick(self, now: datetime) -> None:
        self._write([("set", DISPATCHER, LAST_TICK, now.timestamp())])

    def send_started(self, lag_seconds: float) -> None:
        self._write(
            [
                ("set", DISPATCHER, LAST_START_LAG, max(0.0, lag_seconds)),
                ("set", DISPATCHER, LAST_START_AT, time.time()),
            ]
        )

    # -- internals --------------------------------------------------------------

    @staticmethod
    def _histogram(
        name: str, relay: str, seconds: float, buckets: Iterable[float]
    ) -> list[tuple[str, str, str, float]]:
        seconds = max(0.0, seconds)
        ops: list[tuple[str, str, str, float]] = [
            ("incr", f"{name}_bucket", field_name(relay, format_le(b)), 1)
            for b in buckets
            if seconds <= b
        ]
        ops.append(("incr", f"{name}_bucket", field_name(relay, "+Inf"), 1))
        ops.append(("incrfloat", f"{name}_sum", field_name(relay), seconds))
        ops.append(("incr", f"{name}_count", field_name(relay), 1))
        return ops

    def _count(self, name: str, labels: tuple[str, ...]) -> None:
        key = (name, labels)
        self._held_counts[key] = self._held_counts.get(key, 0) + 1

    def _observe(self, name: str, relay: str, seconds: float, buckets: tuple[float, ...]) -> None:
        """Hold one histogram observation: a count in the slot of the first
        bucket it fits (the last slot is +Inf only), and the sum."""
        seconds = max(0.0, seconds)
        key = (name, relay, buckets)
        held = self._held_hists.get(key)
        if held is None:
            held = self._held_hists[key] = [0.0] * (len(buckets) + 2)
        held[bisect.bisect_left(buckets, seconds)] += 1
        held[-1] += seconds

    def _held_ops(self) -> list[tuple[str, str, str, float]]:
        """The held counts and histograms as the ops unbuffered calls would send."""
        ops: list[tuple[str, str, str, float]] = [
            ("incr", name, field_name(*labels), n)
            for (name, labels), n in self._held_counts.items()
        ]
        for (name, relay, buckets), held in self._held_hists.items():
            cumulative = 0.0
            for bound, n in zip(buckets, held, strict=False):
                cumulative += n
                if cumulative:  # as unbuffered: a bucket field appears once used
                    ops.append(
                        ("incr", f"{name}_bucket", field_name(relay, format_le(bound)), cumulative)
                    )
            total = sum(held[:-1])
            ops.append(("incr", f"{name}_bucket", field_name(relay, "+Inf"), total))
            ops.append(("incrfloat", f"{name}_sum", field_name(relay), held[-1]))
            ops.append(("incr", f"{name}_count", field_name(relay), total))
        self._held_counts = {}
        self._held_hists = {}
        return ops

    def _write(self, ops: list[tuple[str, str, str, float]]) -> None:
        # Buffered, only the dispatcher's gauges come here (events are held
        # as counts and histogram slots above).
        if not self.buffered:
            self._send(ops)
            return
        for op, name, field, value in ops:
            key = (op, name, field)
            if op == "set":
                self._held[key] = value
            else:
                self._held[key] = self._held.get(key, 0.0) + value

    def flush(self) -> None:
        """Write the buffered events in one round trip."""
        ops = [(op, name, field, value) for (op, name, field), value in self._held.items()]
        ops += self._held_ops()
        self._held = {}
        if ops:
            self._send(ops)

    def _send(self, ops: list[tuple[str, str, str, float]]) -> None:
        """Send `ops` in one round trip; log and swallow any failure."""
        now = time.monotonic()
        if now < self._paused_until:
            return
        try:
            # MULTI/EXEC in the same round trip: a scrape never sees half a
            # histogram (its +Inf bucket always equals its count).
            pipe = self.client.pipeline(transaction=True)
            for op, name, field, value in ops:
                key = self.prefix + name
                if op == "incr":
                    pipe.hincrby(key, field, int(value))
                elif op == "incrfloat":
                    pipe.hincrbyfloat(key, field, value)
                else:
                    pipe.hset(key, field, repr(float(value)))
            pipe.execute()
        except Exception as exc:  # whatever Redis does, the mail goes on
            self._paused_until = now + self.pause_seconds
            REDIS.failed(exc)  # the process's one Redis line (WARNING)
            if now - self._last_logged >= 60:
                self._last_logged = now
                log.info(
                    "metrics: Redis write failed (%s: %s); skipping metrics for %ss",
                    type(exc).__name__,
                    exc,
                    self.pause_seconds,
                )


#: Every hash `RedisMetrics` writes, by name (without the prefix).
HASHES = (
    SENT,
    SMTP_ATTEMPTS,
    OUTCOMES,
    f"{SMTP_SECONDS}_bucket",
    f"{SMTP_SECONDS}_sum",
    f"{SMTP_SECONDS}_count",
    f"{RATE_WAIT}_bucket",
    f"{RATE_WAIT}_sum",
    f"{RATE_WAIT}_count",
)

Series = dict[tuple[str, ...], float]


@dataclass(frozen=True)
class WorkerMetrics:
    """What the workers wrote, as read back in one snapshot."""

    series: dict[str, Series]  # hash name -> label values -> value
    last_tick: float | None  # epoch seconds of the last dispatcher tick
    last_start_lag: float | None  # seconds, the last started send

    def get(self, name: str) -> Series:
        return self.series.get(name, {})


def read_worker_metrics(client: Any, prefix: str = DEFAULT_PREFIX) -> WorkerMetrics:
    """Return every series under `prefix` (one MULTI/EXEC round trip).

    Raises redis errors as they come (the caller reports Redis as down).
    Fields that are not ours or hold no number are skipped.
    """
    pipe = client.pipeline(transaction=True)
    for name in HASHES:
        pipe.hgetall(prefix + name)
    pipe.hgetall(prefix + DISPATCHER)
    *hashes, dispatcher = pipe.execute()
    series: dict[str, Series] = {}
    for name, raw in zip(HASHES, hashes, strict=True):
        values: Series = {}
        for field, value in raw.items():
            labels = parse_field(field)
            number = _number(value)
            if labels is not None and number is not None:
                values[labels] = number
        series[name] = values
    gauges = {_text(k): _number(v) for k, v in dispatcher.items()}
    return WorkerMetrics(
        series=series,
        last_tick=gauges.get(LAST_TICK),
        last_start_lag=gauges.get(LAST_START_LAG),
    )


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _number(value: bytes | str) -> float | None:
    try:
        number = float(_text(value))
    except ValueError:
        return None
    return number if math.isfinite(number) else None
