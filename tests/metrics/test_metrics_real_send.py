"""Metrics reflect a real send: dispatcher and engine in-process (no Celery),
real database, real Redis, a real SMTP sink with a fault plan, and /metrics
served by the real web app. The counts must match the ledger."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import redis
from metrics_support import Samples, scrape, serve, total, value
from sqlalchemy import Engine

from mailer.db import session_scope
from mailer.delivery.dispatch import dispatch
from mailer.delivery.engine import DeliveryContext, deliver_send, utcnow
from mailer.embedded.smtp_sink import FaultPlan, SmtpSink
from mailer.metrics import MetricsSink, RedisMetrics
from mailer.models import DeliveryStatus
from mailer.runtime import Runtime
from mailer.services.send_progress import send_progress
from mailer.services.sends import create_send
from mailer.settings import Settings, load_settings
from mailer.testing.seed import LIST, seed
from mailer.testing.stack import TEST_SECRET

RECIPIENTS = 12


def _faults() -> FaultPlan:
    """Recipients 3 and 7 are refused (550); 5 and 9 are told to come back (451)."""

    def decide(stage: str, rcpt: str, attempt: int) -> str | None:
        if stage != "RCPT":
            return None
        if rcpt.startswith(("cio00003@", "cio00007@")):
            return "550 5.1.1 no such user"
        if rcpt.startswith(("cio00005@", "cio00009@")):
            return "451 4.7.1 try again later"
        return None

    return FaultPlan(decide)


def _settings(database_url: str, redis_url: str, sink: SmtpSink) -> Settings:
    return load_settings(
        database_url=database_url,
        redis_url=redis_url,
        smtp_url=sink.url,
        secret_key=TEST_SECRET,
        base_url="https://mailer.example.com",
        rate_limit="1000/s",
        old_secret_keys="",
    )


def _start_send(engine: Engine, rt: Runtime, part_id: int, metrics: MetricsSink) -> int:
    with session_scope(engine) as session:
        send_id = int(create_send(session=session, part_id=part_id, list_names=[LIST]).id)  # type: ignore[arg-type]
    report = dispatch(
        engine, rt.coordinator, lambda _: None, parallelism=1, interval=1, metrics=metrics
    )
    assert report.started == [send_id]
    return send_id


def _assert_matches_ledger(samples: Samples, engine: Engine, send_id: int, sink: SmtpSink) -> None:
    p = send_progress(engine=engine, send_id=send_id)
    counts = p.counts
    relay = sink.url.split("://", 1)[1]
    assert counts[DeliveryStatus.SENT] == RECIPIENTS - 4 == len(sink.accepted)
    assert counts[DeliveryStatus.FAILED] == 2 and counts[DeliveryStatus.DEFERRED] == 2
    # the workers' counters
    assert value(samples, "mailer_messages_sent_total", relay=relay) == counts[DeliveryStatus.SENT]
    assert total(samples, "mailer_messages_sent_total") == counts[DeliveryStatus.SENT]
    assert (
        total(samples, "mailer_delivery_outcomes_total", status="sent")
        == counts[DeliveryStatus.SENT]
    )
    assert value(samples, "mailer_delivery_outcomes_total", status="failed", code="550") == 2
    assert value(samples, "mailer_delivery_outcomes_total", status="deferred", code="451") == 2
    attempts = counts[DeliveryStatus.SENT] + 4
    assert value(samples, "mailer_smtp_duration_seconds_count", relay=relay) == attempts
    assert total(samples, "mailer_smtp_attempts_total", relay=relay) == attempts
    # the ledger gauges
    sid = str(send_id)
    for status in DeliveryStatus:
        assert (
            value(samples, "mailer_send_deliveries", send_id=sid, status=status.value)
            == (counts[status])
        ), status
        assert value(samples, "mailer_deliveries", status=status.value) == counts[status]
    assert (
        value(samples, "mailer_send_pending_deliveries", send_id=sid)
        == counts[DeliveryStatus.PENDING]
    )
    lag = value(samples, "mailer_dispatcher_start_lag_seconds")
    assert lag is not None and 0 <= lag < 60
    age = value(samples, "mailer_dispatcher_tick_age_seconds")
    assert age is not None and 0 <= age < 60


def _context_has_metrics() -> bool:
    return "metrics" in {f.name for f in dataclasses.fields(DeliveryContext)}


@pytest.mark.xfail(
    not _context_has_metrics(),
    reason="DeliveryContext has no `metrics` field yet (the lead adds it and the "
    "instrumentation in engine.py / relays.py / runtime.py / dispatch.py)",
    strict=False,
)
def test_metrics_reflect_a_real_send(
    engine: Engine, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """A send with 12 recipients (two refused with 550, two told 451) through
    the engine's own instrumentation: RedisMetrics passed to the dispatcher
    and the Runtime's delivery context (its buffered RedisMetrics, shared by
    the engine and the relay pool, same Redis hashes). Nothing is
    counted by the test; /metrics must match the ledger."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    data = seed(engine, RECIPIENTS)
    metrics = RedisMetrics(client)
    with SmtpSink(tmp_path / "outbox", faults=_faults()) as sink:
        settings = _settings(database_url, redis_url, sink)
        rt = Runtime(settings)
        try:
            send_id = _start_send(engine, rt, data.part_id, metrics)
            # The Runtime's own context: its buffered RedisMetrics (shared by
            # the engine and the relay pool) writes the same hashes.
            ctx = rt.delivery_context()
            ctx.now = utcnow
            deliver_send(ctx, send_id, time_budget=30)
        finally:
            rt.dispose()
        with serve(settings) as url:
            _, samples = scrape(url)
        _assert_matches_ledger(samples, engine, send_id, sink)
    # a second scrape does not change counters (reading never writes)
    with serve(settings) as url:
        _, again = scrape(url)
    assert total(again, "mailer_messages_sent_total") == total(
        samples, "mailer_messages_sent_total"
    )
