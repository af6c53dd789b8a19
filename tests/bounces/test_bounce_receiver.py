"""The SMTP receiver, driven by a real smtplib client."""

from __future__ import annotations

import re
import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest
from bounce_helpers import CONFIG, DOMAIN, Ref, sample
from sqlalchemy import Engine, select
from sqlmodel import Session

from mailer.bounces.receiver import BounceReceiver
from mailer.db import make_engine
from mailer.embedded.redis_server import free_port
from mailer.models import InboundMessage, Subscriber, SubscriberStatus


@pytest.fixture
def receiver(engine: Engine) -> Iterator[BounceReceiver]:
    seen: list[InboundMessage] = []
    r = BounceReceiver(engine=engine, config=CONFIG, port=free_port(), on_message=seen.append)
    r.seen = seen  # type: ignore[attr-defined]
    with r:
        yield r


def wire(raw: bytes) -> bytes:
    """Return `raw` with CRLF line ends, as it travels over SMTP (smtplib
    sends bytes as they are)."""
    return re.sub(rb"\r?\n", b"\r\n", raw)


def client(r: BounceReceiver) -> smtplib.SMTP:
    return smtplib.SMTP(r.host, r.port, timeout=10)


def stored(engine: Engine) -> list[InboundMessage]:
    with Session(engine) as s:
        return list(s.execute(select(InboundMessage).order_by(InboundMessage.id)).scalars())  # type: ignore[arg-type]


def status_of(engine: Engine, ref: Ref) -> SubscriberStatus:
    with Session(engine) as s:
        sub = s.get(Subscriber, ref.subscriber_id)
        assert sub is not None
        return SubscriberStatus(sub.status)


def test_bounce_over_smtp(engine: Engine, refs: list[Ref], receiver: BounceReceiver) -> None:
    ref = refs[0]
    with client(receiver) as smtp:
        smtp.ehlo("mx.city00001.example.jp")
        refused = smtp.sendmail("", [ref.verp], wire(sample("postfix-hard-5.1.1.eml", ref)))
    assert refused == {}
    [row] = stored(engine)
    assert (row.kind, row.delivery_id, row.rcpt_to, row.mail_from) == (
        "dsn-hard", ref.delivery_id, ref.verp, "<>")
    assert status_of(engine, ref) == SubscriberStatus.BOUNCED
    assert [m.id for m in receiver.seen] == [row.id]  # type: ignore[attr-defined]


def test_unsubscribe_over_smtp(engine: Engine, refs: list[Ref], receiver: BounceReceiver) -> None:
    ref = refs[1]
    with client(receiver) as smtp:
        smtp.sendmail(ref.email, [ref.unsubscribe_address],
                      wire(sample("mailto-unsubscribe.eml", ref)))
    [row] = stored(engine)
    assert (row.kind, row.subscriber_id) == ("unsubscribe-request", ref.subscriber_id)
    assert status_of(engine, ref) == SubscriberStatus.UNSUBSCRIBED


@pytest.mark.parametrize("rcpt", [
    "postmaster@mailer.example.com",
    "bounces@mailer.example.com",  # no token part at all
    "bounces+x@elsewhere.example.net",  # not our domain: never a relay
    "someone+x@mailer.example.com",
])
def test_other_recipients_are_refused(
    engine: Engine, refs: list[Ref], receiver: BounceReceiver, rcpt: str
) -> None:
    with client(receiver) as smtp:
        smtp.ehlo()
        smtp.mail("")
        code, _ = smtp.rcpt(rcpt)
        assert code == 550
        smtp.rset()
    assert stored(engine) == []


def test_mixed_recipients_keep_the_accepted_ones(
    engine: Engine, refs: list[Ref], receiver: BounceReceiver
) -> None:
    ref = refs[2]
    with client(receiver) as smtp:
        refused = smtp.sendmail("", [f"abuse@{DOMAIN}", ref.verp.upper()],
                                wire(sample("gmail-soft-4.2.2.eml", ref)))
    assert list(refused) == [f"abuse@{DOMAIN}"]
    [row] = stored(engine)
    assert (row.kind, row.delivery_id) == ("dsn-soft", ref.delivery_id)


def test_database_trouble_is_a_temporary_failure(tmp_path: Path) -> None:
    # No schema: every insert fails, and the sender must keep the message.
    broken = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    ref = Ref(delivery_id=5, part_id=1, subscriber_id=5, email="a@example.jp")
    with BounceReceiver(engine=broken, config=CONFIG, port=free_port()) as r, client(r) as smtp:
        with pytest.raises(smtplib.SMTPDataError) as err:
            smtp.sendmail("", [ref.verp], wire(sample("postfix-hard-5.1.1.eml", ref)))
        assert err.value.smtp_code == 451
    broken.dispose()
