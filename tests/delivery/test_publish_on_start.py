"""A part goes public when its first real send starts: the dispatcher sets
`part.published_at` in the transaction that starts the send, once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import redis
from sqlalchemy import Engine, select

from mailer.db import session_scope
from mailer.delivery.dispatch import Coordinator, dispatch
from mailer.models import AuditLog, Part
from mailer.services.actors import Actor
from mailer.services.publication import is_public, unpublish_part
from mailer.services.sends import create_send
from mailer.testing.seed import LIST, seed

EDITOR = Actor(name="editor@metro.example.jp", user_id=None, door="cli")


def _schedule(engine: Engine, part_id: int, at: datetime) -> int:
    with session_scope(engine) as session:
        return int(create_send(session=session, part_id=part_id, list_names=[LIST], at=at).id)  # type: ignore[arg-type]


def _publication(engine: Engine, part_id: int) -> tuple[datetime | None, str]:
    with engine.connect() as conn:
        at, by = conn.execute(select(Part.published_at, Part.published_by)  # type: ignore[call-overload]
                              .where(Part.id == part_id)).one()
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at, by


def _publish_audits(engine: Engine, part_id: int) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(select(AuditLog.action, AuditLog.actor, AuditLog.detail)  # type: ignore[call-overload]
                            .where(AuditLog.target_type == "part",
                                   AuditLog.target_id == str(part_id))
                            .order_by(AuditLog.id)).all()
    return [tuple(r) for r in rows]


def test_the_first_send_start_publishes_its_part_once(engine: Engine, redis_url: str) -> None:
    data = seed(engine, 2)
    coordinator = Coordinator(redis.Redis.from_url(redis_url), prefix=f"t-{uuid.uuid4().hex}:")
    now = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
    first = _schedule(engine, data.part_id, now - timedelta(minutes=1))
    later = _schedule(engine, data.part2_id, now + timedelta(hours=1))
    assert not is_public(engine=engine, part_id=data.part_id)

    report = dispatch(engine, coordinator, lambda _: None, parallelism=1, interval=1, now=now)
    assert report.started == [first]
    assert _publication(engine, data.part_id) == (now, "system")
    assert _publish_audits(engine, data.part_id) == [
        ("part.publish", "system", f"配信 {first} の開始")]
    # a part whose send has not started stays unpublished
    assert _publication(engine, data.part2_id) == (None, "")
    assert later not in report.started

    # a second send of the same part keeps the first date
    second = _schedule(engine, data.part_id, now)
    report = dispatch(engine, coordinator, lambda _: None, parallelism=1, interval=1,
                      now=now + timedelta(minutes=5))
    assert second in report.started
    assert _publication(engine, data.part_id) == (now, "system")
    assert len(_publish_audits(engine, data.part_id)) == 1

    # taken back by an editor, the part is published again by the next send's start
    unpublish_part(engine=engine, actor=EDITOR, part_id=data.part_id)
    assert _publication(engine, data.part_id) == (None, "")
    third = _schedule(engine, data.part_id, now)
    again = now + timedelta(hours=2)
    report = dispatch(engine, coordinator, lambda _: None, parallelism=1, interval=1, now=again)
    assert third in report.started and later in report.started
    assert _publication(engine, data.part_id) == (again, "system")
    assert _publication(engine, data.part2_id) == (again, "system")
    assert [a for a, _, _ in _publish_audits(engine, data.part_id)] == [
        "part.publish", "part.unpublish", "part.publish"]


def test_a_send_held_by_preflight_errors_publishes_nothing(engine: Engine,
                                                           redis_url: str) -> None:
    data = seed(engine, 1)
    coordinator = Coordinator(redis.Redis.from_url(redis_url), prefix=f"t-{uuid.uuid4().hex}:")
    now = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
    _schedule(engine, data.part_id, now)
    report = dispatch(engine, coordinator, lambda _: None, parallelism=1, interval=1, now=now,
                      preflight=lambda _send_id: ["subject: 件名が空です"])
    assert report.started == []
    assert _publication(engine, data.part_id) == (None, "")
