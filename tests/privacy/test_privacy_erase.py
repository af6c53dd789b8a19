"""Erasure: one transaction, the address gone from every table, never imported again."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from privacy_support import PrivacyCli, World, build_world, count, text_hits
from sqlalchemy import Engine, select
from sqlmodel import Session

from mailer.models import (
    AuditLog,
    Delivery,
    DeliveryStatus,
    InboundMessage,
    Membership,
    Send,
    Subscriber,
    SubscriberEvent,
    Suppression,
)
from mailer.services.importer import read_subscriber_file
from mailer.services.privacy import (
    ERASED_REASON,
    UnknownSubscriberError,
    erase_subscriber,
    export_subscriber_data,
)
from mailer.services.retention import final_counts, parse_counts
from mailer.services.subscribers import Consent, apply_import
from mailer.services.suppression import email_hash


def _erase(engine: Engine, world: World) -> None:
    report = erase_subscriber(engine=engine, email=world.target.upper(), actor="cli:tester",
                              reason=f"request #12 from {world.target}")
    assert report.subscriber_id == world.target_id
    assert (report.memberships, report.events, report.deliveries, report.inbound_messages) == (
        2, 1, 2, 2)
    assert report.sends_counted == [world.done_send, world.running_send]
    assert report.suppression == "converted"
    assert report.redacted == 2  # the other subscriber's event, the audit entry
    assert not any(world.target in line for line in report.lines())


def test_erased_address_is_nowhere_in_the_database(engine: Engine) -> None:
    world = build_world(engine)
    assert text_hits(engine, world.target)  # the scan does find it before
    local_part = world.target.split("@")[0]

    _erase(engine, world)

    assert text_hits(engine, world.target) == []
    assert text_hits(engine, local_part) == []
    digest = email_hash(world.target)
    with Session(engine) as session:
        sup = session.execute(select(Suppression).where(
            Suppression.email_hash == digest)).scalars().one()  # type: ignore[arg-type]
        assert (sup.email, sup.reason) == (f"erased:{digest}", ERASED_REASON)
        audit = session.execute(select(AuditLog).where(
            AuditLog.action == "subscriber.erase")).scalars().one()  # type: ignore[arg-type]
        assert (audit.actor, audit.target_type, audit.target_id) == (
            "cli:tester", "subscriber", digest)
        assert "request #12" in audit.detail
        # The other audit entry stays, pointing at the hash.
        assert session.execute(select(AuditLog.target_id).where(  # type: ignore[call-overload]
            AuditLog.action == "subscriber.update")).scalar_one() == f"erased:{digest}"


def test_erasure_leaves_everyone_else_alone(engine: Engine) -> None:
    world = build_world(engine)
    _erase(engine, world)

    assert count(engine, Subscriber) == 4
    assert count(engine, Membership) == 4
    assert count(engine, Delivery) == 8
    assert count(engine, SubscriberEvent) == 1  # the other subscriber's, redacted
    assert count(engine, InboundMessage) == 1
    assert count(engine, Suppression, Suppression.email == world.others[1]) == 1
    with pytest.raises(UnknownSubscriberError, match="もう消去されています"):
        erase_subscriber(engine=engine, email=world.target, actor="cli:tester")
    # An export now finds only the hash.
    data = export_subscriber_data(engine=engine, email=world.target)
    assert data["subscriber"] is None and data["deliveries"] == []
    assert [s["reason"] for s in data["suppressions"]] == [ERASED_REASON]


def test_send_totals_still_add_up(engine: Engine) -> None:
    world = build_world(engine)
    _erase(engine, world)

    done = final_counts(engine=engine, send_id=world.done_send)
    assert done[DeliveryStatus.SENT] == 4 and done[DeliveryStatus.FAILED] == 1
    running = final_counts(engine=engine, send_id=world.running_send)
    # A row still owed an attempt is counted as skipped: it will never be sent.
    assert running[DeliveryStatus.SENT] == 4 and running[DeliveryStatus.SKIPPED] == 1
    assert running[DeliveryStatus.PENDING] == 0
    with Session(engine) as session:
        for send_id in (world.done_send, world.running_send):
            send = session.get(Send, send_id)
            assert send is not None and send.recipients == 5
            assert sum(parse_counts(send.counts_json).values()) == 1


def _import(engine: Engine, path: Path, *, resubscribe: bool) -> tuple[int, int, list[str]]:
    parsed = read_subscriber_file(path)
    with Session(engine) as session:
        report = apply_import(
            session=session, parsed=parsed, list_name="cio-forum", resubscribe=resubscribe,
            consent=Consent(source="import:again.csv", by="tester", at=datetime.now(UTC)))
        session.commit()
    return (report.counts.created, report.counts.skipped_suppressed,
            [s.reason for s in report.skipped])


def test_import_does_not_bring_an_erased_address_back(engine: Engine, tmp_path: Path) -> None:
    world = build_world(engine)
    _erase(engine, world)
    path = tmp_path / "again.csv"
    # Another case than stored: the hash is of the normalised address.
    path.write_text(f"メールアドレス,氏名\r\n{world.target.upper()},髙橋 太郎\r\n",
                    encoding="utf-8")

    created, skipped, reasons = _import(engine, path, resubscribe=False)
    assert (created, skipped) == (0, 1)
    assert reasons == [f"配信抑止中（{ERASED_REASON}）"]
    assert count(engine, Subscriber) == 4
    assert text_hits(engine, world.target) == []

    created, skipped, _ = _import(engine, path, resubscribe=True)
    assert (created, skipped) == (1, 0)
    assert count(engine, Suppression, Suppression.email_hash == email_hash(world.target)) == 0


def test_erasure_is_one_transaction(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    world = build_world(engine)
    before = {m.__name__: count(engine, m) for m in (
        Subscriber, Membership, Delivery, SubscriberEvent, InboundMessage, Suppression, AuditLog)}

    import mailer.services.privacy as privacy

    def broken(*args: object, **kwargs: object) -> str:
        raise RuntimeError("disk full")

    monkeypatch.setattr(privacy, "_suppress_erased", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        erase_subscriber(engine=engine, email=world.target, actor="cli:tester")
    after = {m.__name__: count(engine, m) for m in (
        Subscriber, Membership, Delivery, SubscriberEvent, InboundMessage, Suppression, AuditLog)}
    assert after == before
    with Session(engine) as session:
        send = session.get(Send, world.done_send)
        assert send is not None and send.counts_json == ""


def test_an_address_known_only_from_a_suppression_is_erased(engine: Engine) -> None:
    build_world(engine)
    with Session(engine) as session:
        session.add(Suppression(email="old@example.jp", email_hash=email_hash("old@example.jp"),
                                reason="complaint"))
        session.commit()
    report = erase_subscriber(engine=engine, email="OLD@example.jp", actor="cli:tester")
    assert report.subscriber_id is None and report.suppression == "converted"
    assert text_hits(engine, "old@example.jp") == []
    with pytest.raises(UnknownSubscriberError, match="の購読者もほかの記録もありません"):
        erase_subscriber(engine=engine, email="never@example.jp", actor="cli:tester")


def test_cli_erase_needs_yes(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = build_world(engine)
    cli = PrivacyCli(database_url, monkeypatch)

    code, output = cli("erase", world.target)
    assert code == 2 and "--yes" in output
    assert count(engine, Subscriber) == 5

    code, output = cli("erase", world.target, "--yes", "--reason", "request #12")
    assert code == 0, output
    assert "削除した配信記録: 2" in output and world.target not in output
    assert text_hits(engine, world.target) == []
    with Session(engine) as session:
        actor = session.execute(select(AuditLog.actor).where(  # type: ignore[call-overload]
            AuditLog.action == "subscriber.erase")).scalar_one()
    assert actor == "cli:tester"

    code, output = cli("erase", world.target, "--yes")
    assert code == 1 and "もう消去されています" in output


def test_erasing_again_removes_a_late_bounce(engine: Engine) -> None:
    world = build_world(engine)
    _erase(engine, world)
    with Session(engine) as session:
        session.add(InboundMessage(kind="dsn-hard", summary="delivery 1 is not in the ledger",
                                   raw=f"Final-Recipient: rfc822; {world.target}\n"))
        session.commit()
    report = erase_subscriber(engine=engine, email=world.target, actor="cli:tester")
    assert (report.subscriber_id, report.inbound_messages, report.suppression) == (
        None, 1, "converted")
    assert text_hits(engine, world.target) == []
    assert count(engine, Suppression, Suppression.email_hash == email_hash(world.target)) == 1
