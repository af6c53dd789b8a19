"""Retention: old finished sends keep their counts, lose their ledger rows."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from privacy_support import PrivacyCli, build_world, count, days_ago
from sqlalchemy import Engine, update
from sqlmodel import Session

from mailer.models import Delivery, DeliveryStatus, Send, SendStatus
from mailer.services.retention import (
    NoSuchSendError,
    compact_old_deliveries,
    final_counts,
)


def test_compacts_only_old_finished_sends(engine: Engine) -> None:
    world = build_world(engine, finished_at=days_ago(500))
    before = final_counts(engine=engine, send_id=world.done_send)

    assert compact_old_deliveries(engine=engine, older_than=timedelta(days=600)) == 0
    assert compact_old_deliveries(engine=engine, older_than=timedelta(days=400)) == 5

    assert count(engine, Delivery, Delivery.send_id == world.done_send) == 0
    assert count(engine, Delivery, Delivery.send_id == world.running_send) == 5
    with Session(engine) as session:
        send = session.get(Send, world.done_send)
        assert send is not None
        stored = json.loads(send.counts_json)
    assert stored == {s.value: before[s] for s in DeliveryStatus}
    assert stored["sent"] == 4 and stored["failed"] == 1
    assert final_counts(engine=engine, send_id=world.done_send) == before
    # Nothing left to compact: a second run is a no-op.
    assert compact_old_deliveries(engine=engine, older_than=timedelta(days=400)) == 0
    assert final_counts(engine=engine, send_id=world.done_send) == before


def test_cancelled_send_counts_from_its_last_change(engine: Engine) -> None:
    world = build_world(engine)
    with engine.begin() as conn:
        conn.execute(update(Send).where(Send.id == world.running_send).values(  # type: ignore[arg-type]
            status=SendStatus.CANCELLED, updated_at=days_ago(401)))
    n = compact_old_deliveries(engine=engine, older_than=timedelta(days=400))
    assert n == 5
    counts = final_counts(engine=engine, send_id=world.running_send)
    assert counts[DeliveryStatus.SENT] == 4 and counts[DeliveryStatus.PENDING] == 1


def test_final_counts_of_an_unknown_send(engine: Engine) -> None:
    with pytest.raises(NoSuchSendError):
        final_counts(engine=engine, send_id=999)


def test_older_than_must_be_positive(engine: Engine) -> None:
    with pytest.raises(ValueError):
        compact_old_deliveries(engine=engine, older_than=timedelta(0))


def test_cli_compact(engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    build_world(engine, finished_at=days_ago(30))
    cli = PrivacyCli(database_url, monkeypatch)
    code, output = cli("compact")
    assert code == 0, output
    assert "配信記録 0 行" in output and "400 日" in output
    code, output = cli("compact", "--older-than-days", "7")
    assert code == 0, output
    assert "配信記録 5 行" in output
    code, output = cli("compact", "--older-than-days", "0")
    assert code == 2
