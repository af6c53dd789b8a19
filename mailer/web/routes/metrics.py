"""`/metrics`: Prometheus text exposition (format 0.0.4).

Two sources, read at scrape time:

* the ledger (database): deliveries by state, in total and per send for sends
  started in the last day (older sends get no `send_id` series, so the number
  of series stays bounded), pending rows of every running send, sends by state;
* the workers' counters and histograms in Redis (`mailer.metrics`), written by
  every worker process on every host.

The text format is written by hand rather than with prometheus_client: every
value is read from the database or Redis at scrape time, so the library's
in-process registry would only be used through custom collectors, and the
format we need (HELP, TYPE, samples with escaped labels) is a few lines.

A source that does not answer does not fail the scrape: its samples are left
out and `mailer_metrics_source_up{source=…}` says 0.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import Engine, func, select

from mailer import metrics as m
from mailer.models import Delivery, DeliveryStatus, Send, SendStatus
from mailer.web.routes import READ
from mailer.web.state import Web

log = logging.getLogger(__name__)
router = APIRouter(tags=["metrics"])

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: sends started longer ago than this get no per-send series
RECENT = timedelta(days=1)

D = Delivery.__table__  # type: ignore[attr-defined]
S = Send.__table__  # type: ignore[attr-defined]


# -- the ledger ------------------------------------------------------------------


@dataclass
class LedgerSnapshot:
    totals: dict[str, int] = field(default_factory=dict)  # delivery status -> rows
    per_send: dict[int, dict[str, int]] = field(default_factory=dict)  # recent sends
    pending: dict[int, int] = field(default_factory=dict)  # running sends
    sends: dict[str, int] = field(default_factory=dict)  # send status -> sends


def _status(value: str) -> str:
    return DeliveryStatus(value).value


def read_ledger(engine: Engine, *, now: datetime) -> LedgerSnapshot:
    """Return the ledger counts `/metrics` shows. Raises database errors."""
    snap = LedgerSnapshot(
        totals={s.value: 0 for s in DeliveryStatus}, sends={s.value: 0 for s in SendStatus}
    )
    with engine.connect() as conn:
        for status, n in conn.execute(select(D.c.status, func.count()).group_by(D.c.status)):
            snap.totals[_status(status)] = int(n)
        for status, n in conn.execute(select(S.c.status, func.count()).group_by(S.c.status)):
            snap.sends[SendStatus(status).value] = int(n)
        recent = list(conn.execute(select(S.c.id).where(S.c.started_at >= now - RECENT)).scalars())
        running = list(
            conn.execute(select(S.c.id).where(S.c.status == SendStatus.RUNNING.value)).scalars()
        )
        snap.per_send = {int(i): {s.value: 0 for s in DeliveryStatus} for i in recent}
        if recent:
            # Uses the (send_id, status) index: cost grows with recent sends only.
            for send_id, status, n in conn.execute(
                select(D.c.send_id, D.c.status, func.count())
                .where(D.c.send_id.in_(recent))
                .group_by(D.c.send_id, D.c.status)
            ):
                snap.per_send[int(send_id)][_status(status)] = int(n)
        snap.pending = {int(i): 0 for i in running}
        if running:
            for send_id, n in conn.execute(
                select(D.c.send_id, func.count())
                .where(D.c.send_id.in_(running), D.c.status == DeliveryStatus.PENDING.value)
                .group_by(D.c.send_id)
            ):
                snap.pending[int(send_id)] = int(n)
    return snap


# -- the text format ---------------------------------------------------------------


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _value(number: float) -> str:
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    return str(int(number)) if number == int(number) and abs(number) < 2**53 else repr(number)


class Exposition:
    """Collects metric families and renders them (each family's samples together)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        help_text = help_text.replace("\\", "\\\\").replace("\n", "\\n")
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]

    def sample(self, name: str, value: float, **labels: str) -> None:
        body = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
        self.lines.append(
            f"{name}{{{body}}} {_value(value)}" if body else f"{name} {_value(value)}"
        )

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _le_order(le: str) -> float:
    try:
        return float(le)
    except ValueError:
        return math.inf


def _histogram(out: Exposition, name: str, help_text: str, w: m.WorkerMetrics, key: str) -> None:
    out.family(name, "histogram", help_text)
    buckets = w.get(f"{key}_bucket")
    sums, counts = w.get(f"{key}_sum"), w.get(f"{key}_count")
    for (relay,) in sorted(k for k in counts if len(k) == 1):
        mine = sorted(
            ((k[1], n) for k, n in buckets.items() if len(k) == 2 and k[0] == relay),
            key=lambda item: _le_order(item[0]),
        )
        for le, n in mine:
            out.sample(f"{name}_bucket", n, relay=relay, le=le)
        out.sample(f"{name}_sum", sums.get((relay,), 0.0), relay=relay)
        out.sample(f"{name}_count", counts[(relay,)], relay=relay)


def _labelled(
    out: Exposition, name: str, kind: str, help_text: str, series: m.Series, names: Iterable[str]
) -> None:
    keys = tuple(names)
    out.family(name, kind, help_text)
    for labels, value in sorted(series.items()):
        if len(labels) == len(keys):
            out.sample(name, value, **dict(zip(keys, labels, strict=True)))


def render(
    ledger: LedgerSnapshot | None,
    workers: m.WorkerMetrics | None,
    *,
    now: float,
    redis_configured: bool = True,
) -> str:
    """Return the exposition text for what could be read (None: that source
    failed, or Redis is not configured)."""
    out = Exposition()
    out.family(
        "mailer_metrics_source_up",
        "gauge",
        "1 if /metrics could read this source (database, redis) on this scrape.",
    )
    out.sample("mailer_metrics_source_up", int(ledger is not None), source="database")
    if redis_configured:
        out.sample("mailer_metrics_source_up", int(workers is not None), source="redis")
    if ledger is not None:
        out.family("mailer_deliveries", "gauge", "Ledger rows by state, all sends.")
        for status, n in ledger.totals.items():
            out.sample("mailer_deliveries", n, status=status)
        out.family(
            "mailer_send_deliveries",
            "gauge",
            "Ledger rows by state of each send started in the last 24 hours.",
        )
        for send_id, counts in sorted(ledger.per_send.items()):
            for status, n in counts.items():
                out.sample("mailer_send_deliveries", n, send_id=str(send_id), status=status)
        out.family(
            "mailer_send_pending_deliveries", "gauge", "Pending ledger rows of each running send."
        )
        for send_id, n in sorted(ledger.pending.items()):
            out.sample("mailer_send_pending_deliveries", n, send_id=str(send_id))
        out.family("mailer_sends", "gauge", "Sends by state.")
        for status, n in ledger.sends.items():
            out.sample("mailer_sends", n, status=status)
    if workers is not None:
        _labelled(
            out,
            "mailer_messages_sent_total",
            "counter",
            "Messages a relay accepted (250 to the data).",
            workers.get(m.SENT),
            ["relay"],
        )
        _labelled(
            out,
            "mailer_smtp_attempts_total",
            "counter",
            "SMTP attempts by relay and outcome (sent or the failure kind).",
            workers.get(m.SMTP_ATTEMPTS),
            ["relay", "outcome"],
        )
        _histogram(
            out,
            "mailer_smtp_duration_seconds",
            "Time of one SMTP transaction (MAIL to the reply to the data), per relay.",
            workers,
            m.SMTP_SECONDS,
        )
        _labelled(
            out,
            "mailer_delivery_outcomes_total",
            "counter",
            "Delivery attempts by recorded state and SMTP reply code (none: no reply).",
            workers.get(m.OUTCOMES),
            ["status", "code"],
        )
        _histogram(
            out,
            "mailer_rate_limit_wait_seconds",
            "Time one rate-limiter call waited for its tokens, per relay.",
            workers,
            m.RATE_WAIT,
        )
        out.family(
            "mailer_dispatcher_tick_age_seconds",
            "gauge",
            "Seconds since the dispatcher last finished a tick.",
        )
        if workers.last_tick is not None:
            out.sample("mailer_dispatcher_tick_age_seconds", max(0.0, now - workers.last_tick))
        out.family(
            "mailer_dispatcher_start_lag_seconds",
            "gauge",
            "Seconds between the scheduled and the actual start of the last started send.",
        )
        if workers.last_start_lag is not None:
            out.sample("mailer_dispatcher_start_lag_seconds", workers.last_start_lag)
    return out.text()


@router.api_route("/metrics", methods=READ)
def metrics(web: Web) -> Response:
    """Prometheus metrics; always 200 (a failed source shows as source_up 0)."""
    now = datetime.now(UTC)
    ledger: LedgerSnapshot | None = None
    workers: m.WorkerMetrics | None = None
    try:
        ledger = read_ledger(web.engine, now=now)
    except Exception:  # a scrape reports the failure, it does not become one
        log.warning("metrics: cannot read the ledger", exc_info=True)
    if web.redis is not None:
        try:
            workers = m.read_worker_metrics(web.redis)
        except Exception:
            log.warning("metrics: cannot read Redis", exc_info=True)
    text = render(ledger, workers, now=time.time(), redis_configured=web.redis is not None)
    return Response(text, media_type=CONTENT_TYPE)
