"""Shared pieces of the privacy tests: one person with data in every table, a
scan of every text column, and the privacy CLI run in-process."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import typer
from sqlalchemy import Engine, String, Text, func, inspect, select, text
from typer.testing import CliRunner

from mailer.cli.privacy import privacy_app
from mailer.db import session_scope
from mailer.models import (
    AuditLog,
    Delivery,
    DeliveryStatus,
    InboundMessage,
    MailingList,
    Membership,
    Send,
    SendStatus,
    Subscriber,
    SubscriberEvent,
    Suppression,
)
from mailer.services.suppression import email_hash
from mailer.testing.seed import seed

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class World:
    """The seeded database: `target` is the person to export or erase."""

    target: str
    others: list[str]
    target_id: int
    done_send: int  # part 1, done: target failed, others sent
    running_send: int  # part 2, running: target pending, others sent
    other_inbound: int  # an inbound message of someone else (must survive)


def build_world(engine: Engine, *, finished_at: datetime = NOW) -> World:
    """Seed 5 subscribers, two sends with a ledger row each, and traces of the
    target in events, inbound messages, suppression and the audit log."""
    seeded = seed(engine, 5)
    target, others = seeded.emails[1], [e for i, e in enumerate(seeded.emails) if i != 1]
    with session_scope(engine) as session:
        extra = MailingList(name="cdo-forum", title="CDOフォーラム")
        session.add(extra)
        done = Send(part_id=seeded.part_id, status=SendStatus.DONE, scheduled_at=finished_at,
                    started_at=finished_at, finished_at=finished_at, recipients=5)
        running = Send(part_id=seeded.part2_id, status=SendStatus.RUNNING, scheduled_at=NOW,
                       started_at=NOW, recipients=5)
        session.add_all([done, running])
        session.flush()
        assert done.id is not None and running.id is not None
        done_id, running_id = done.id, running.id
        subs = {s.email: s for s in session.execute(select(Subscriber)).scalars()}
        tid = subs[target].id
        assert tid is not None and extra.id is not None
        session.add(Membership(list_id=extra.id, subscriber_id=tid))
        target_delivery = 0
        for email, sub in subs.items():
            mine = email == target
            d1 = Delivery(send_id=done_id, part_id=seeded.part_id, subscriber_id=sub.id,
                          email=email, attempts=1, message_id=f"<d1.{sub.id}@mailer.example.com>",
                          status=DeliveryStatus.FAILED if mine else DeliveryStatus.SENT,
                          last_error=f"550 5.1.1 <{email}>: user unknown" if mine else "",
                          sent_at=None if mine else finished_at)
            d2 = Delivery(send_id=running_id, part_id=seeded.part2_id, subscriber_id=sub.id,
                          email=email,
                          status=DeliveryStatus.PENDING if mine else DeliveryStatus.SENT,
                          sent_at=None if mine else NOW)
            session.add_all([d1, d2])
            session.flush()
            if mine:
                target_delivery = d1.id or 0
        session.add_all([
            SubscriberEvent(subscriber_id=tid, kind="bounced", source="smtp",
                            detail=f"550 5.1.1 <{target}>: user unknown",
                            delivery_id=target_delivery),
            # Someone else's event that names the target's address.
            SubscriberEvent(subscriber_id=subs[others[0]].id, kind="preferences", source="web",
                            detail=f"colleague of {target.upper()}"),
            Suppression(email=target, email_hash=email_hash(target),
                        reason=f"hard bounce: 550 5.1.1 <{target}>"),
            Suppression(email=others[1], email_hash=email_hash(others[1]), reason="complaint"),
            InboundMessage(kind="dsn-hard", delivery_id=target_delivery, subscriber_id=tid,
                           mail_from="", rcpt_to="bounces+x@mailer.example.com",
                           summary="hard bounce", raw=f"Final-Recipient: rfc822; {target}\n"),
            # Not linked, but the address is in it: an auto-reply forwarded by hand.
            InboundMessage(kind="unknown", mail_from=target.upper(), rcpt_to="forum@example.com",
                           raw=f"From: {target.upper()}\nSubject: 不在\n\n不在です。"),
            AuditLog(actor="admin@example.org", action="subscriber.update",
                     target_type="subscriber", target_id=target, detail="status -> bounced"),
        ])
        other_inbound = InboundMessage(kind="complaint", subscriber_id=subs[others[1]].id,
                                       raw=f"To: {others[1]}\n")
        session.add(other_inbound)
        session.flush()
        assert other_inbound.id is not None
        return World(target=target, others=others, target_id=tid, done_send=done_id,
                     running_send=running_id, other_inbound=other_inbound.id)


def text_hits(engine: Engine, needle: str) -> list[str]:
    """Return `table.column` for every text cell of every table that contains
    `needle` (case-insensitive)."""
    hits: list[str] = []
    # One connection for the inspection too: on SQLite every transaction takes
    # the write lock (BEGIN IMMEDIATE), so a second one would wait for this one.
    with engine.connect() as conn:
        insp = inspect(conn)
        for table in insp.get_table_names():
            for column in insp.get_columns(table):
                if not isinstance(column["type"], String | Text):
                    continue
                quoted = engine.dialect.identifier_preparer.quote
                sql = f"SELECT {quoted(column['name'])} FROM {quoted(table)}"
                for (value,) in conn.execute(text(sql)):
                    if value is not None and needle.lower() in str(value).lower():
                        hits.append(f"{table}.{column['name']}")
    return sorted(set(hits))


def count(engine: Engine, model: type, *where: object) -> int:
    with engine.connect() as conn:
        stmt = select(func.count()).select_from(model)
        if where:
            stmt = stmt.where(*where)  # type: ignore[arg-type]
        return int(conn.execute(stmt).scalar_one())


def days_ago(n: int) -> datetime:
    return datetime.now(UTC) - timedelta(days=n)


class PrivacyCli:
    """Runs `mailer privacy …` in-process against one database."""

    def __init__(self, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
        for key in list(os.environ):
            if key.startswith("MAILER_") and not key.startswith("MAILER_TEST_"):
                monkeypatch.delenv(key)
        monkeypatch.setenv("MAILER_DATABASE_URL", url)
        monkeypatch.setenv("USER", "tester")
        self.app = typer.Typer()
        self.app.add_typer(privacy_app, name="privacy")
        self.runner = CliRunner()

    def __call__(self, *args: str) -> tuple[int, str]:
        result = self.runner.invoke(self.app, ["privacy", *args])
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.output
