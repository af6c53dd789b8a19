"""record_inbound against a real ledger: subscriber status, suppression, events."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from bounce_helpers import CONFIG, DOMAIN, Ref, sample
from sqlalchemy import Engine, select
from sqlmodel import Session

from mailer.bounces.apply import record_inbound
from mailer.bounces.classify import InboundKind, InboundResult
from mailer.bounces.inbound import process_inbound
from mailer.models import (
    InboundMessage,
    Membership,
    Subscriber,
    SubscriberEvent,
    SubscriberStatus,
    Suppression,
)
from mailer.services.subscribers import ensure_list

FBL = f"bounces+fbl@{DOMAIN}"


def process(engine: Engine, raw: bytes, rcpt_to: str, *, now: datetime | None = None,
            mail_from: str = "") -> InboundMessage:
    return process_inbound(engine=engine, config=CONFIG, raw=raw, mail_from=mail_from,
                           rcpt_to=rcpt_to, now=now)


def subscriber(engine: Engine, ref: Ref) -> Subscriber:
    with Session(engine) as s:
        sub = s.get(Subscriber, ref.subscriber_id)
        assert sub is not None
        return sub


def events(engine: Engine, ref: Ref) -> list[SubscriberEvent]:
    with Session(engine) as s:
        return list(s.execute(
            select(SubscriberEvent).where(SubscriberEvent.subscriber_id == ref.subscriber_id)  # type: ignore[arg-type]
            .order_by(SubscriberEvent.id)  # type: ignore[arg-type]
        ).scalars())


def suppression(engine: Engine, email: str) -> Suppression | None:
    with Session(engine) as s:
        return s.execute(select(Suppression).where(Suppression.email == email)).scalars().first()  # type: ignore[arg-type]


def inbound_rows(engine: Engine) -> list[InboundMessage]:
    with Session(engine) as s:
        return list(s.execute(select(InboundMessage).order_by(InboundMessage.id)).scalars())  # type: ignore[arg-type]


HARD = ["postfix-hard-5.1.1.eml", "exim-hard-550.eml", "exchange-o365-hard-5.1.10.eml",
        "gmail-hard-5.1.1.eml"]


@pytest.mark.parametrize("name", HARD)
def test_hard_bounce_bounces_and_suppresses(engine: Engine, refs: list[Ref], name: str) -> None:
    ref = refs[1]
    row = process(engine, sample(name, ref), ref.verp, mail_from="")
    assert (row.kind, row.delivery_id, row.subscriber_id) == (
        "dsn-hard", ref.delivery_id, ref.subscriber_id)
    assert "subscriber bounced" in row.summary
    assert subscriber(engine, ref).status == SubscriberStatus.BOUNCED
    sup = suppression(engine, ref.email)
    assert sup is not None and sup.reason.startswith("hard bounce: 5.1.")
    [event] = events(engine, ref)
    assert (event.kind, event.source, event.delivery_id) == ("bounced", "bounce", ref.delivery_id)
    # nobody else was touched
    assert all(subscriber(engine, r).status == SubscriberStatus.ACTIVE for r in refs if r != ref)
    [stored] = inbound_rows(engine)
    assert stored.raw.startswith(("Return-Path", "Return-path", "Received"))


def test_repeated_dsn_is_stored_but_changes_nothing(engine: Engine, refs: list[Ref]) -> None:
    ref = refs[0]
    raw = sample("postfix-hard-5.1.1.eml", ref)
    first = process(engine, raw, ref.verp)
    again = process(engine, raw, ref.verp)
    # the same report forwarded later, matched by its content this time
    forwarded = process(engine, sample("gmail-hard-5.1.1.eml", ref), FBL)
    assert "repeat of inbound" in again.summary and "repeat of inbound" in forwarded.summary
    assert [e.kind for e in events(engine, ref)] == ["bounced"]
    assert len(inbound_rows(engine)) == 3
    assert first.id != again.id


def test_concurrent_copies_of_one_dsn_act_once(engine: Engine, refs: list[Ref]) -> None:
    ref = refs[0]
    raw = sample("exchange-o365-hard-5.1.10.eml", ref)
    start = threading.Barrier(6)

    def one() -> None:
        start.wait()
        process(engine, raw, ref.verp)

    with ThreadPoolExecutor(6) as pool:
        for f in [pool.submit(one) for _ in range(6)]:
            f.result()
    assert [e.kind for e in events(engine, ref)] == ["bounced"]
    assert len(inbound_rows(engine)) == 6


def test_soft_bounces_reach_the_limit(engine: Engine, refs: list[Ref]) -> None:
    ref = refs[2]
    now = datetime(2025, 12, 2, 9, 0, tzinfo=UTC)
    base = InboundResult(InboundKind.DSN_SOFT, recipient=ref.email, status="4.2.2",
                         diagnostic="452 4.2.2 mailbox full", matched_by="verp")
    # Three deliveries (three parts, say) each soft-bounce; the ledger rows
    # are what counts, so make two more for the same subscriber.
    ids = [ref.delivery_id, *_more_deliveries(engine, ref, 2)]
    for n, delivery_id in enumerate(ids, 1):
        row = record_inbound(engine=engine, result=_replace(base, delivery_id=delivery_id),
                             raw=b"x", mail_from="", rcpt_to=ref.verp,
                             now=now + timedelta(days=n))
        assert f"soft bounce {n} of 3" in row.summary
        expected = SubscriberStatus.BOUNCED if n == 3 else SubscriberStatus.ACTIVE
        assert subscriber(engine, ref).status == expected
    kinds = [e.kind for e in events(engine, ref)]
    assert kinds == ["soft-bounce", "soft-bounce", "soft-bounce", "bounced"]
    sup = suppression(engine, ref.email)
    assert sup is not None and sup.reason.startswith("soft bounces: 3 soft bounces in 30 days")


def test_soft_bounces_outside_the_window_do_not_count(engine: Engine, refs: list[Ref]) -> None:
    ref = refs[3]
    now = datetime(2025, 12, 2, 9, 0, tzinfo=UTC)
    ids = [ref.delivery_id, *_more_deliveries(engine, ref, 2)]
    for n, delivery_id in enumerate(ids):
        result = InboundResult(InboundKind.DSN_SOFT, delivery_id=delivery_id, status="4.2.2")
        record_inbound(engine=engine, result=result, raw=b"x", mail_from="", rcpt_to="",
                       now=now + timedelta(days=20 * n))  # day 0, 20, 40
    assert subscriber(engine, ref).status == SubscriberStatus.ACTIVE
    assert suppression(engine, ref.email) is None


def test_the_same_delivery_soft_bouncing_twice_counts_once(
    engine: Engine, refs: list[Ref]
) -> None:
    ref = refs[4]
    raw = sample("gmail-soft-4.2.2.eml", ref)
    for _ in range(4):  # Gmail's delay notices repeat while it retries
        process(engine, raw, ref.verp)
    assert [e.kind for e in events(engine, ref)] == ["soft-bounce"]
    assert subscriber(engine, ref).status == SubscriberStatus.ACTIVE


def test_soft_then_hard_for_one_delivery(engine: Engine, refs: list[Ref]) -> None:
    ref = refs[4]
    process(engine, sample("gmail-soft-4.2.2.eml", ref), ref.verp)
    process(engine, sample("gmail-hard-5.1.1.eml", ref), ref.verp)
    assert [e.kind for e in events(engine, ref)] == ["soft-bounce", "bounced"]
    assert subscriber(engine, ref).status == SubscriberStatus.BOUNCED


def test_complaint(engine: Engine, refs: list[Ref]) -> None:
    ref = refs[5]
    row = process(engine, sample("arf-complaint.eml", ref), FBL)
    assert (row.kind, row.delivery_id) == ("complaint", ref.delivery_id)
    assert subscriber(engine, ref).status == SubscriberStatus.COMPLAINED
    sup = suppression(engine, ref.email)
    assert sup is not None and sup.reason.startswith("complaint: feedback-type abuse")
    [event] = events(engine, ref)
    assert (event.kind, event.source, event.delivery_id) == (
        "complained", "feedback-loop", ref.delivery_id)
    process(engine, sample("arf-complaint.eml", ref), FBL)
    assert len(events(engine, ref)) == 1


def test_complaint_after_a_hard_bounce(engine: Engine, refs: list[Ref]) -> None:
    ref = refs[5]
    process(engine, sample("postfix-hard-5.1.1.eml", ref), ref.verp)
    process(engine, sample("arf-complaint.eml", ref), FBL)
    assert subscriber(engine, ref).status == SubscriberStatus.COMPLAINED
    assert [e.kind for e in events(engine, ref)] == ["bounced", "complained"]


def test_mailto_unsubscribe_from_the_tokens_list(engine: Engine, refs: list[Ref]) -> None:
    ref = refs[6]
    with Session(engine) as s:  # also on a second list
        other_id = ensure_list(session=s, name="cio-forum-extra").id
        s.add(Membership(list_id=other_id, subscriber_id=ref.subscriber_id))  # type: ignore[arg-type]
        s.commit()
    row = process(engine, sample("mailto-unsubscribe.eml", ref), ref.unsubscribe_address,
                  mail_from=ref.email)
    assert (row.kind, row.subscriber_id, row.delivery_id) == (
        "unsubscribe-request", ref.subscriber_id, None)
    assert subscriber(engine, ref).status == SubscriberStatus.ACTIVE  # still on the other
    assert _lists_of(engine, ref) == [other_id]
    [event] = events(engine, ref)
    assert (event.kind, event.source, event.detail) == ("unsubscribed", "mailto", "cio-forum")


def test_mailto_unsubscribe_last_list_and_repeat(engine: Engine, refs: list[Ref]) -> None:
    ref = refs[6]
    raw = sample("mailto-unsubscribe.eml", ref)
    process(engine, raw, ref.unsubscribe_address)
    assert subscriber(engine, ref).status == SubscriberStatus.UNSUBSCRIBED
    assert _lists_of(engine, ref) == []
    again = process(engine, raw, ref.unsubscribe_address)
    assert "no change" in again.summary
    assert len(events(engine, ref)) == 1


def test_mailto_unsubscribe_without_list_stops_all_mail(
    engine: Engine, refs: list[Ref]
) -> None:
    """Same rule as the web and one-click unsubscribe: the status stops every
    list's mail; memberships stay so a later resubscribe restores them."""
    ref = _replace_ref(refs[7], list_id=None)
    with Session(engine) as s:
        other_id = ensure_list(session=s, name="cio-forum-extra").id
        s.add(Membership(list_id=other_id, subscriber_id=ref.subscriber_id))  # type: ignore[arg-type]
        s.commit()
    before = _lists_of(engine, ref)
    process(engine, sample("mailto-unsubscribe.eml", ref), ref.unsubscribe_address)
    assert _lists_of(engine, ref) == before and len(before) == 2
    assert subscriber(engine, ref).status == SubscriberStatus.UNSUBSCRIBED
    assert events(engine, ref)[0].detail == "all lists"


def test_bounced_subscriber_stays_bounced_after_mailto(engine: Engine, refs: list[Ref]) -> None:
    ref = refs[0]
    process(engine, sample("postfix-hard-5.1.1.eml", ref), ref.verp)
    process(engine, sample("mailto-unsubscribe.eml", ref), ref.unsubscribe_address)
    assert subscriber(engine, ref).status == SubscriberStatus.BOUNCED


def test_autoreply_and_junk_change_nothing(engine: Engine, refs: list[Ref]) -> None:
    ref = refs[1]
    auto = process(engine, sample("autoreply-ja.eml", ref), ref.verp)
    junk = process(engine, sample("junk.eml", ref), f"bounces+zz19abcdefghij@{DOMAIN}")
    assert (auto.kind, auto.delivery_id, auto.subscriber_id) == (
        "autoreply", ref.delivery_id, ref.subscriber_id)
    assert (junk.kind, junk.delivery_id, junk.subscriber_id) == ("unknown", None, None)
    assert events(engine, ref) == []
    assert subscriber(engine, ref).status == SubscriberStatus.ACTIVE
    # the ISO-2022-JP bytes are 7-bit, so the stored text is the message as received
    assert "subject: =?iso-2022-jp?" in inbound_rows(engine)[0].raw.lower()


def test_unmatched_hard_bounce_is_stored_only(engine: Engine, refs: list[Ref]) -> None:
    raw = sample("postfix-hard-5.1.1.eml", refs[0])
    raw = raw.replace(refs[0].verp.encode(), b"x@example.net").replace(
        refs[0].message_id.encode(), b"<x@example.net>")
    row = process(engine, raw, FBL)
    assert (row.kind, row.delivery_id, row.subscriber_id) == ("dsn-hard", None, None)
    assert "no delivery reference" in row.summary
    assert suppression(engine, refs[0].email) is None


def test_delivery_missing_from_the_ledger(engine: Engine, refs: list[Ref]) -> None:
    ghost = _replace_ref(refs[0], delivery_id=10_000_000)
    row = process(engine, sample("postfix-hard-5.1.1.eml", ghost), ghost.verp)
    assert row.delivery_id == 10_000_000 and row.subscriber_id is None
    assert "not in the ledger" in row.summary


def test_raw_bytes_that_are_not_utf8_or_hold_nul_are_stored(
    engine: Engine, refs: list[Ref]
) -> None:
    raw = b"From: x@example.jp\nSubject: \x82\xa0\n\nbody \x00 \xff end\n"
    row = process(engine, raw, refs[0].verp)
    [stored] = inbound_rows(engine)
    assert stored.id == row.id and "\ufffd" in stored.raw and "\x00" not in stored.raw


def test_address_changed_since_the_send(engine: Engine, refs: list[Ref]) -> None:
    ref = refs[2]
    with Session(engine) as s:
        sub = s.get(Subscriber, ref.subscriber_id)
        assert sub is not None
        sub.email = "new-address@city.example.jp"
        s.add(sub)
        s.commit()
    row = process(engine, sample("postfix-hard-5.1.1.eml", ref), ref.verp)
    assert "status unchanged" in row.summary
    assert subscriber(engine, ref).status == SubscriberStatus.ACTIVE
    assert suppression(engine, ref.email) is not None  # the old address is dead


def test_address_already_suppressed(engine: Engine, refs: list[Ref]) -> None:
    ref = refs[3]
    with Session(engine) as s:
        s.add(Suppression(email=ref.email, reason="erasure request"))
        s.commit()
    process(engine, sample("postfix-hard-5.1.1.eml", ref), ref.verp)
    sup = suppression(engine, ref.email)
    assert sup is not None and sup.reason == "erasure request"
    assert subscriber(engine, ref).status == SubscriberStatus.BOUNCED


# -- helpers ---------------------------------------------------------------------


def _replace(result: InboundResult, **changes: object) -> InboundResult:
    from dataclasses import replace

    return replace(result, **changes)  # type: ignore[arg-type]


def _replace_ref(ref: Ref, **changes: object) -> Ref:
    from dataclasses import replace

    return replace(ref, **changes)  # type: ignore[arg-type]


def _lists_of(engine: Engine, ref: Ref) -> list[int]:
    with Session(engine) as s:
        return list(s.execute(
            select(Membership.list_id).where(Membership.subscriber_id == ref.subscriber_id)  # type: ignore[call-overload,arg-type]
        ).scalars())


def _more_deliveries(engine: Engine, ref: Ref, n: int) -> list[int]:
    """Add `n` more sent deliveries for `ref`'s subscriber (new sends of new parts)."""
    from mailer.models import Delivery, DeliveryStatus, Issue, Part, Send

    ids = []
    now = datetime.now(UTC)
    with Session(engine) as s:
        issue = Issue(slug=f"extra-{ref.subscriber_id}", number=99, title="extra")
        s.add(issue)
        s.flush()
        for i in range(n):
            part = Part(issue_id=issue.id, label=f"p{i}", title="t", subject="s")  # type: ignore[arg-type]
            s.add(part)
            s.flush()
            send = Send(part_id=part.id, scheduled_at=now)  # type: ignore[arg-type]
            s.add(send)
            s.flush()
            d = Delivery(send_id=send.id, part_id=part.id, subscriber_id=ref.subscriber_id,  # type: ignore[arg-type]
                         email=ref.email, status=DeliveryStatus.SENT)
            s.add(d)
            s.flush()
            assert d.id is not None
            ids.append(d.id)
        s.commit()
    return ids


def test_a_test_sends_bounce_is_stored_and_applies_nothing(
    engine: Engine, refs: list[Ref]
) -> None:
    """A test send's return path names TEST_DELIVERY_ID (2**63-1), beyond the
    32-bit column on PostgreSQL: stored without a delivery, nothing applied
    (used to fail the transaction, so the receiver answered 451 for days)."""
    from mailer.delivery.verp import TEST_DELIVERY_ID

    test = _replace_ref(refs[0], delivery_id=TEST_DELIVERY_ID)
    row = process(engine, sample("postfix-hard-5.1.1.eml", test), test.verp)
    assert row.delivery_id is None and row.subscriber_id is None
    assert "test send" in row.summary
    assert suppression(engine, refs[0].email) is None
    assert subscriber(engine, refs[0]).status == "active"
