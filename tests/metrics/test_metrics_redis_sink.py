"""RedisMetrics on a real Redis: what it writes, that many writers add up,
and that a broken Redis never reaches the delivery path."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

import pytest
import redis

from mailer.metrics import (
    MetricsSink,
    NullMetrics,
    RedisMetrics,
    field_name,
    read_worker_metrics,
)

RELAY = "smtp.example.lg.jp:587"


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


def test_counters_and_cumulative_histogram_buckets(client: redis.Redis, key_prefix: str) -> None:
    sink = RedisMetrics(client, key_prefix, smtp_buckets=(0.1, 1.0))
    sink.observe_smtp(RELAY, 0.05, "sent", 250)
    sink.observe_smtp(RELAY, 0.5, "sent", 250)
    sink.observe_smtp(RELAY, 3.0, "defer", 451)
    sink.observe_smtp(RELAY, 0.2, "no-such-outcome", None)  # bounded labels
    buckets = client.hgetall(key_prefix + "smtp_seconds_bucket")
    assert {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in buckets.items()} == {
        field_name(RELAY, "0.1"): 1,
        field_name(RELAY, "1.0"): 3,
        field_name(RELAY, "+Inf"): 4,
    }
    w = read_worker_metrics(client, key_prefix)
    assert w.get("messages_sent_total") == {(RELAY,): 2}
    assert w.get("smtp_attempts_total") == {
        (RELAY, "sent"): 2,
        (RELAY, "defer"): 1,
        (RELAY, "other"): 1,
    }
    assert w.get("smtp_seconds_count") == {(RELAY,): 4}
    assert w.get("smtp_seconds_sum")[(RELAY,)] == pytest.approx(3.75)


def test_outcomes_by_code_rate_waits_and_dispatcher_gauges(
    client: redis.Redis, key_prefix: str
) -> None:
    sink: MetricsSink = RedisMetrics(client, key_prefix)
    for status, code in [
        ("sent", 250),
        ("deferred", 451),
        ("deferred", 451),
        ("failed", 550),
        ("failed", None),
        ("bogus", 999),
    ]:
        sink.count_outcome(status, code)
    sink.rate_wait(RELAY, 0.0)
    sink.rate_wait(RELAY, 0.02)
    tick = datetime(2026, 5, 1, 0, 0, 1, tzinfo=UTC)
    sink.dispatcher_tick(tick)
    sink.send_started(4.25)
    w = read_worker_metrics(client, key_prefix)
    assert w.get("delivery_outcomes_total") == {
        ("sent", "250"): 1,
        ("deferred", "451"): 2,
        ("failed", "550"): 1,
        ("failed", "none"): 1,
        ("other", "other"): 1,
    }
    assert w.get("rate_wait_seconds_count") == {(RELAY,): 2}
    assert w.get("rate_wait_seconds_sum")[(RELAY,)] == pytest.approx(0.02)
    assert w.get("rate_wait_seconds_bucket")[(RELAY, "0.001")] == 1
    assert w.get("rate_wait_seconds_bucket")[(RELAY, "0.05")] == 2
    assert w.last_tick == tick.timestamp()
    assert w.last_start_lag == 4.25


def test_many_writers_add_up(redis_url: str, key_prefix: str) -> None:
    """Workers on many hosts: separate clients, concurrent increments, no lost update."""

    def work() -> None:
        sink = RedisMetrics(redis.Redis.from_url(redis_url), key_prefix)
        for _ in range(100):
            sink.observe_smtp(RELAY, 0.01, "sent", 250)
            sink.count_outcome("sent", 250)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    w = read_worker_metrics(redis.Redis.from_url(redis_url), key_prefix)
    assert w.get("messages_sent_total") == {(RELAY,): 600}
    assert w.get("smtp_seconds_bucket")[(RELAY, "+Inf")] == 600
    assert w.get("delivery_outcomes_total") == {("sent", "250"): 600}


def test_unreachable_redis_is_logged_once_and_never_raises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dead = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    sink = RedisMetrics(dead, pause_seconds=60)
    with caplog.at_level(logging.INFO):
        sink.observe_smtp(RELAY, 0.1, "sent", 250)  # tries, fails, pauses
        started = time.monotonic()
        for _ in range(50):  # paused: no connection attempts, no delay, no noise
            sink.observe_smtp(RELAY, 0.1, "sent", 250)
            sink.count_outcome("sent", 250)
            sink.rate_wait(RELAY, 0.0)
            sink.dispatcher_tick(datetime.now(UTC))
            sink.send_started(1.0)
        assert time.monotonic() - started < 0.5
    lines = [r for r in caplog.records if r.name == "mailer.metrics"]
    assert len(lines) == 1 and "Redis write failed" in lines[0].getMessage()
    # at WARNING, the process's one Redis line (shared with the batches)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith("Redis サーバ"), warnings
    assert "が応答しません" in warnings[0]


def test_writes_resume_after_the_pause(client: redis.Redis, key_prefix: str) -> None:
    class Flaky:
        """A real client whose first pipeline fails (a Redis restart)."""

        def __init__(self) -> None:
            self.calls = 0

        def pipeline(self, transaction: bool = True) -> object:
            self.calls += 1
            if self.calls == 1:
                raise redis.ConnectionError("Connection reset by peer")
            return client.pipeline(transaction=transaction)

    sink = RedisMetrics(Flaky(), key_prefix, pause_seconds=0.2)
    sink.count_outcome("sent", 250)  # lost
    sink.count_outcome("sent", 250)  # still paused
    time.sleep(0.25)
    sink.count_outcome("sent", 250)
    assert read_worker_metrics(client, key_prefix).get("delivery_outcomes_total") == {
        ("sent", "250"): 1
    }


def test_null_metrics_is_a_sink() -> None:
    sink: MetricsSink = NullMetrics()
    sink.observe_smtp(RELAY, 0.1, "sent", 250)
    sink.count_outcome("sent", 250)
    sink.rate_wait(RELAY, 0.1)
    sink.dispatcher_tick(datetime.now(UTC))
    sink.send_started(0.0)


def _hashes(client: redis.Redis, prefix: str) -> dict[str, dict[bytes, float]]:
    return {
        key.decode()[len(prefix) :]: {f: round(float(v), 9) for f, v in client.hgetall(key).items()}
        for key in client.scan_iter(match=prefix + "*")
    }


def test_buffered_writes_what_unbuffered_writes(client: redis.Redis, key_prefix: str) -> None:
    """The delivery path holds events in memory and spells them at flush;
    Redis must end up exactly as if every event had been written at once."""
    events = [
        (RELAY, 0.05, "sent", 250),
        (RELAY, 0.1, "sent", 250),  # on a bucket bound
        (RELAY, 0.5, "sent", 250),
        (RELAY, 3.0, "defer", 451),
        ("backup:25", 0.0, "sent", 250),
        ("backup:25", 7.5, "permanent", 550),
        (RELAY, 0.2, "no-such-outcome", None),
    ]
    direct = RedisMetrics(client, key_prefix + "a:", smtp_buckets=(0.1, 1.0, 5.0))
    held = RedisMetrics(client, key_prefix + "b:", smtp_buckets=(0.1, 1.0, 5.0), buffered=True)
    for sink in (direct, held):
        for relay, seconds, outcome, code in events:
            sink.observe_smtp(relay, seconds, outcome, code)
            sink.count_outcome("sent" if outcome == "sent" else "failed", code)
            sink.rate_wait(relay, seconds / 100)
    assert _hashes(client, key_prefix + "b:") == {}  # nothing written before the flush
    held.flush()
    assert _hashes(client, key_prefix + "b:") == _hashes(client, key_prefix + "a:") != {}
    held.flush()  # a second flush with nothing held writes nothing more
    assert _hashes(client, key_prefix + "b:") == _hashes(client, key_prefix + "a:")
