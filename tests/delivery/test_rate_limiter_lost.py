"""A lost rate limiter is reported as itself (reliability #17): with Redis
gone, a batch sends nothing, hands its rows back with the reason "rate
limiter unavailable (Redis)" and says so in one warning line per process and
outage (each batch's tally at INFO), instead of
calling every relay down. Real database, a real SMTP sink, and a Redis URL
on which nothing listens."""

from __future__ import annotations

import logging
import socket
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from test_leases import runtime, start, statuses

from mailer.delivery import ledger
from mailer.delivery.engine import deliver_send
from mailer.embedded.smtp_sink import SmtpSink
from mailer.testing.seed import seed


def _dead_redis_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"  # closed again: connections are refused


def test_a_lost_rate_limiter_is_named_as_itself(
    engine: Engine, database_url: str, redis_url: str, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = seed(engine, 5)
    with SmtpSink(tmp_path / "o") as sink:
        send_id = start(engine, runtime(database_url, redis_url, sink), data.part_id)
        cut_off = runtime(database_url, _dead_redis_url(), sink)
        with caplog.at_level(logging.INFO):
            report = deliver_send(cut_off.delivery_context(), send_id, time_budget=20)
            # a second batch (nothing due yet) neither repeats it nor calls Redis back
            deliver_send(cut_off.delivery_context(), send_id, time_budget=20)
        cut_off.dispose()
    assert report.stopped == "rate limiter unavailable"
    assert report.sent == 0 and not sink.accepted
    assert statuses(engine, send_id) == Counter({"pending": 5})
    with engine.connect() as conn:
        errors = set(conn.execute(select(ledger.D.c.last_error)
                                  .where(ledger.D.c.send_id == send_id)).scalars())
    assert errors == {"rate limiter unavailable (Redis)"}
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings  # one per outage per process, not one per batch
    assert warnings[0].startswith("Redis")
    assert "が応答しません（RateLimiterUnavailable" in warnings[0]
    lines = [r.getMessage() for r in caplog.records
             if r.levelno == logging.INFO and "送信速度の制限" in r.getMessage()]
    assert len(lines) == 1 and "宛先 5 件を未送信に戻し" in lines[0]  # the batch's tally at INFO
    assert not any("また応答しています" in r.getMessage() for r in caplog.records)
    assert not any("every relay" in r.getMessage() for r in caplog.records)
