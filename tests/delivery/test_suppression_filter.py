"""The ledger's freeze and claim skip a suppressed address in any case, and
an erased one (only its hash kept), on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select
from sqlmodel import Session

from mailer.db import session_scope
from mailer.delivery import ledger
from mailer.delivery.dispatch import start_send
from mailer.delivery.ledger import D
from mailer.models import DeliveryStatus, Subscriber
from mailer.services.privacy import erased_marker
from mailer.services.sends import create_send
from mailer.services.suppression import add_suppression, email_hash
from mailer.testing.seed import LIST, add_subscribers, seed


def _start(engine: Engine, part_id: int, now: datetime) -> int:
    with session_scope(engine) as session:
        send_id = int(create_send(session=session, part_id=part_id, list_names=[LIST]).id)  # type: ignore[arg-type]
    start_send(engine, send_id, now=now)
    return send_id


def _frozen(engine: Engine, send_id: int) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(D.c.email).where(D.c.send_id == send_id)).scalars())


def test_freeze_skips_other_case_and_erased_addresses(engine: Engine) -> None:
    data = seed(engine, 4)
    add_subscribers(engine, ["sato@example.jp", "erased@example.jp"])
    now = datetime.now(UTC)
    with engine.begin() as conn:
        add_suppression(conn, email="Sato@Example.JP", reason="hard bounce: 5.1.1",
                        source="bounce", now=now)
        # an erasure keeps only the hash (the subscriber came back through a
        # path that does not check, e.g. a programmatic upsert)
        digest = email_hash("erased@example.jp")
        add_suppression(conn, email="ERASED@example.jp", reason="erased", source="erasure",
                        now=now, stored_as=erased_marker(digest))
    send_id = _start(engine, data.part_id, now)
    assert _frozen(engine, send_id) == set(data.emails)


def test_claim_skips_an_address_suppressed_after_freezing(engine: Engine) -> None:
    data = seed(engine, 3)
    now = datetime.now(UTC)
    send_id = _start(engine, data.part_id, now)
    assert _frozen(engine, send_id) == set(data.emails)
    with engine.begin() as conn:
        add_suppression(conn, email=data.emails[1].upper(), reason="complaint",
                        source="feedback-loop", now=now)
    with engine.begin() as conn:
        rows = ledger.claim_batch(conn, send_id=send_id, limit=10, now=now,
                                  lease=timedelta(minutes=5))
    assert {r.email for r in rows} == {data.emails[0], data.emails[2]}
    with engine.connect() as conn:
        status = conn.execute(select(D.c.status).where(D.c.email == data.emails[1])).scalar()
    assert status == DeliveryStatus.SKIPPED.value


def test_the_stored_hash_follows_the_address(engine: Engine) -> None:
    add_subscribers(engine, ["Kato@Example.JP"])
    with Session(engine) as session:
        sub = session.execute(select(Subscriber)).scalar_one()
        assert sub.email_hash == email_hash("kato@example.jp")
        sub.email = "kato2@example.jp"
        session.add(sub)
        session.commit()
        session.refresh(sub)
        assert sub.email_hash == email_hash("kato2@example.jp")
