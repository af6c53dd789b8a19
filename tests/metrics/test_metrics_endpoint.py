"""`/metrics` served by the real web app (uvicorn + httpx) on a real database
and Redis: ledger gauges, worker series, the text format, failing sources."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
import redis
from metrics_support import make_settings, scrape, serve, total, value
from sqlalchemy import Engine, update

from mailer.db import session_scope
from mailer.delivery import ledger
from mailer.delivery.dispatch import Coordinator, dispatch
from mailer.metrics import RedisMetrics
from mailer.models import DeliveryStatus, SendStatus
from mailer.services.sends import create_send
from mailer.testing.seed import LIST, add_subscribers, seed

D, SEND = ledger.D, ledger.SEND


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    c = redis.Redis.from_url(redis_url)
    c.flushdb()
    return c


def _start(engine: Engine, part_id: int, client: redis.Redis) -> int:
    with session_scope(engine) as session:
        send_id = int(create_send(session=session, part_id=part_id, list_names=[LIST]).id)  # type: ignore[arg-type]
    assert dispatch(engine, Coordinator(client), lambda _: None, parallelism=1, interval=1)
    return send_id


def _set_status(engine: Engine, send_id: int, statuses: list[DeliveryStatus]) -> None:
    """Give the send's first rows these statuses (the rest stay pending)."""
    with engine.begin() as conn:
        ids = list(
            conn.execute(
                D.select().with_only_columns(D.c.id).where(D.c.send_id == send_id).order_by(D.c.id)
            ).scalars()
        )
        for row_id, status in zip(ids, statuses, strict=False):
            conn.execute(update(D).where(D.c.id == row_id).values(status=status.value))


def test_ledger_gauges_per_recent_send_and_totals(
    engine: Engine, database_url: str, client: redis.Redis
) -> None:
    data = seed(engine, 5)
    old = _start(engine, data.part_id, client)  # started 3 days ago, done
    _set_status(engine, old, [DeliveryStatus.SENT] * 4 + [DeliveryStatus.FAILED])
    with engine.begin() as conn:
        conn.execute(
            update(SEND)
            .where(SEND.c.id == old)
            .values(status=SendStatus.DONE.value, started_at=datetime.now(UTC) - timedelta(days=3))
        )
    add_subscribers(engine, ["late@city.example.jp"])
    running = _start(engine, data.part2_id, client)  # 6 rows
    _set_status(
        engine,
        running,
        [DeliveryStatus.SENT, DeliveryStatus.SENT, DeliveryStatus.DEFERRED, DeliveryStatus.SENDING],
    )
    with serve(make_settings(database_url, redis_url=None)) as url:
        r, samples = scrape(url)
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert value(samples, "mailer_metrics_source_up", source="database") == 1
    # Redis is not configured: no worker series, and no claim that it is down.
    assert value(samples, "mailer_metrics_source_up", source="redis") is None
    assert total(samples, "mailer_messages_sent_total") == 0
    assert value(samples, "mailer_deliveries", status="sent") == 6
    assert value(samples, "mailer_deliveries", status="failed") == 1
    assert value(samples, "mailer_deliveries", status="pending") == 2
    assert value(samples, "mailer_deliveries", status="cancelled") == 0  # every state, always
    assert total(samples, "mailer_deliveries") == 11
    # only the recent send has per-send series
    sends = {dict(ls)["send_id"] for n, ls in samples if n == "mailer_send_deliveries"}
    assert sends == {str(running)}
    sid = str(running)
    assert value(samples, "mailer_send_deliveries", send_id=sid, status="sent") == 2
    assert value(samples, "mailer_send_deliveries", send_id=sid, status="deferred") == 1
    assert value(samples, "mailer_send_deliveries", send_id=sid, status="sending") == 1
    assert value(samples, "mailer_send_deliveries", send_id=sid, status="pending") == 2
    assert value(samples, "mailer_send_pending_deliveries", send_id=sid) == 2
    assert value(samples, "mailer_send_pending_deliveries", send_id=str(old)) is None
    assert value(samples, "mailer_sends", status="running") == 1
    assert value(samples, "mailer_sends", status="done") == 1


def test_a_running_send_older_than_a_day_keeps_its_pending_gauge(
    engine: Engine, database_url: str, client: redis.Redis
) -> None:
    data = seed(engine, 3)
    send_id = _start(engine, data.part_id, client)
    with engine.begin() as conn:
        conn.execute(
            update(SEND)
            .where(SEND.c.id == send_id)
            .values(started_at=datetime.now(UTC) - timedelta(days=2))
        )
    with serve(make_settings(database_url)) as url:
        _, samples = scrape(url)
    assert value(samples, "mailer_send_pending_deliveries", send_id=str(send_id)) == 3
    assert total(samples, "mailer_send_deliveries") == 0


def test_worker_series_from_redis(
    engine: Engine, database_url: str, redis_url: str, client: redis.Redis
) -> None:
    sink = RedisMetrics(client)
    relay = 'odd"relay\\name:25'  # label values are escaped
    sink.observe_smtp(relay, 0.02, "sent", 250)
    sink.observe_smtp(relay, 0.3, "permanent", 550)
    sink.observe_smtp("b:25", 12.0, "relay", None)
    sink.count_outcome("failed", 550)
    sink.count_outcome("deferred", 451)
    sink.rate_wait(relay, 0.5)
    sink.dispatcher_tick(datetime.now(UTC) - timedelta(seconds=30))
    sink.send_started(7.5)
    with serve(make_settings(database_url, redis_url=redis_url)) as url:
        r, samples = scrape(url)
    assert 'relay="odd\\"relay\\\\name:25"' in r.text
    assert value(samples, "mailer_metrics_source_up", source="redis") == 1
    assert value(samples, "mailer_messages_sent_total", relay=relay) == 1
    assert value(samples, "mailer_messages_sent_total", relay="b:25") is None
    assert value(samples, "mailer_smtp_attempts_total", relay="b:25", outcome="relay") == 1
    assert value(samples, "mailer_smtp_duration_seconds_bucket", relay=relay, le="0.025") == 1
    assert value(samples, "mailer_smtp_duration_seconds_bucket", relay=relay, le="0.5") == 2
    assert value(samples, "mailer_smtp_duration_seconds_count", relay=relay) == 2
    assert (
        value(samples, "mailer_smtp_duration_seconds_bucket", relay="b:25", le="10.0") == 0
        or value(samples, "mailer_smtp_duration_seconds_bucket", relay="b:25", le="10.0") is None
    )
    assert value(samples, "mailer_smtp_duration_seconds_bucket", relay="b:25", le="+Inf") == 1
    assert value(samples, "mailer_delivery_outcomes_total", status="failed", code="550") == 1
    assert value(samples, "mailer_delivery_outcomes_total", status="deferred", code="451") == 1
    assert value(samples, "mailer_rate_limit_wait_seconds_sum", relay=relay) == 0.5
    age = value(samples, "mailer_dispatcher_tick_age_seconds")
    assert age is not None and 29 <= age < 60
    assert value(samples, "mailer_dispatcher_start_lag_seconds") == 7.5


def test_a_source_that_does_not_answer_does_not_fail_the_scrape(
    engine: Engine, database_url: str
) -> None:
    with serve(make_settings(database_url, redis_url="redis://127.0.0.1:1/0")) as url:
        _, samples = scrape(url)
        head = httpx.head(f"{url}/metrics", timeout=20)
    assert head.status_code == 200
    assert value(samples, "mailer_metrics_source_up", source="redis") == 0
    assert value(samples, "mailer_metrics_source_up", source="database") == 1
    assert value(samples, "mailer_deliveries", status="sent") == 0


def test_database_without_schema(tmp_path: object, redis_url: str, client: redis.Redis) -> None:
    RedisMetrics(client).count_outcome("sent", 250)
    with serve(make_settings(f"sqlite:///{tmp_path}/empty.db", redis_url=redis_url)) as url:
        _, samples = scrape(url)
    assert value(samples, "mailer_metrics_source_up", source="database") == 0
    assert value(samples, "mailer_delivery_outcomes_total", status="sent", code="250") == 1
    assert total(samples, "mailer_deliveries") == 0
