"""The subscriber edit service, called as any door calls it: an engine and an
Actor in, ServiceError (with the field at fault) out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, insert, select

from mailer.models import AuditLog, MailingList, Subscriber, SubscriberEvent, Suppression
from mailer.services.actors import Actor
from mailer.services.errors import ErrorKind, ServiceError
from mailer.services.subscriber_edit import (
    SubscriberInput,
    create_subscriber,
    resubscribe_subscriber,
    unsubscribe_subscriber,
    update_subscriber,
)
from mailer.services.suppression import email_hash

SUB = Subscriber.__table__  # type: ignore[attr-defined]
EVT = SubscriberEvent.__table__  # type: ignore[attr-defined]
AUD = AuditLog.__table__  # type: ignore[attr-defined]
SUP = Suppression.__table__  # type: ignore[attr-defined]
ML = MailingList.__table__  # type: ignore[attr-defined]

CLI = Actor(name="operator", user_id=None, door="cli")
STAFF = Actor(name="staff@metro.example.jp", user_id=7, door="token")


def _make(engine: Engine, **values: object) -> int:
    return create_subscriber(engine=engine, actor=STAFF,
                             data=SubscriberInput.of({"email": "cio@city.example.jp", **values}))


def _events(engine: Engine, sid: int) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(  # type: ignore[misc]
            select(EVT.c.kind, EVT.c.detail, EVT.c.source).where(EVT.c.subscriber_id == sid)
            .order_by(EVT.c.id))]


def test_create_applies_declared_defaults_and_records_the_actor(engine: Engine) -> None:
    sid = _make(engine, name="髙橋 健太", honorific="", format="テキスト")
    with engine.connect() as conn:
        row = conn.execute(select(SUB).where(SUB.c.id == sid)).one()
        audit = conn.execute(select(AUD.c.actor, AUD.c.action)).all()
    assert (row.name, row.honorific, row.format, row.charset, row.status) == (
        "髙橋 健太", "様", "text", "utf-8", "active")
    assert (row.consent_by, row.consent_source) == (STAFF.name, f"admin:{STAFF.name}")
    assert audit == [(STAFF.name, "subscriber.create")]


@pytest.mark.parametrize(("values", "field"), [
    ({"email": ""}, "email"), ({"email": "nope"}, "email"),
    ({"organisation_kind": "県"}, "organisation_kind"), ({"charset": "euc-jp"}, "charset"),
    ({"job_title": "x" * 201}, "job_title"), ({"name": "a\x00b"}, "name"),
    ({"lists": ["ghost"]}, "lists"), ({"colour": "red"}, "colour"),
])
def test_refusals_name_the_field_and_write_nothing(engine: Engine, values: dict[str, object],
                                                   field: str) -> None:
    with pytest.raises(ServiceError) as caught:
        _make(engine, **values)
    assert caught.value.kind is ErrorKind.INVALID and caught.value.field == field
    with engine.connect() as conn:
        assert conn.execute(select(SUB.c.id)).first() is None


def test_a_suppressed_address_is_refused(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(SUP).values(email="erased:x", reason="erasure",
                                        email_hash=email_hash("cio@city.example.jp"),
                                        created_at=datetime.now(UTC)))
    with pytest.raises(ServiceError, match="配信抑止") as caught:
        _make(engine)
    assert caught.value.field == "email"


def test_unsubscribe_and_resubscribe_are_transitions_with_events(engine: Engine) -> None:
    sid = _make(engine)
    assert unsubscribe_subscriber(engine=engine, actor=CLI, subscriber_id=sid) is True
    assert unsubscribe_subscriber(engine=engine, actor=CLI, subscriber_id=sid) is False
    assert resubscribe_subscriber(engine=engine, actor=CLI, subscriber_id=sid) is True
    assert [e[:2] for e in _events(engine, sid)] == [
        ("created", ""), ("unsubscribed", "all lists"), ("resubscribed", "all lists")]
    with engine.connect() as conn:
        row = conn.execute(select(SUB).where(SUB.c.id == sid)).one()
        actions = conn.execute(select(AUD.c.actor, AUD.c.detail)
                               .where(AUD.c.action == "subscriber.update")).all()
    assert (row.status, row.consent_by) == ("active", "operator")  # consent: who resubscribed
    assert actions == [("operator", "status: active -> unsubscribed"),
                       ("operator", "status: unsubscribed -> active")]
    with pytest.raises(ServiceError) as caught:
        unsubscribe_subscriber(engine=engine, actor=CLI, subscriber_id=sid + 1000)
    assert caught.value.kind is ErrorKind.NOT_FOUND


def test_update_keeps_absent_fields_and_resets_blank_ones(engine: Engine) -> None:
    sid = _make(engine, name="佐藤", honorific="殿", organisation="港区")
    changes = update_subscriber(engine=engine, actor=STAFF, subscriber_id=sid,
                                data=SubscriberInput.of({"honorific": " ", "name": None}))
    assert changes == ["honorific: 殿 -> 様"]
    with engine.connect() as conn:
        row = conn.execute(select(SUB).where(SUB.c.id == sid)).one()
    assert (row.name, row.honorific, row.organisation) == ("佐藤", "様", "港区")
    with pytest.raises(ServiceError) as caught:
        update_subscriber(engine=engine, actor=STAFF, subscriber_id=sid,
                          data=SubscriberInput.of({"status": ""}))
    assert caught.value.field == "status"
