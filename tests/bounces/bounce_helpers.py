"""Shared pieces of the bounce tests: the secret, sample messages, and a ledger
with real deliveries to match them against."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, select

from mailer.bounces.inbound import InboundConfig
from mailer.db import session_scope
from mailer.delivery.verp import make_return_path
from mailer.models import Delivery, DeliveryStatus, MailingList, Send, SendStatus, Subscriber
from mailer.testing.seed import seed
from mailer.tokens import message_id, unsubscribe_token

SECRET_KEY = "bounce-tests-secret-key-0123456789abcdef"
OLD_KEY = "an-older-retired-key-0123456789abcdef"
SECRETS = [OLD_KEY, SECRET_KEY]
DOMAIN = "mailer.example.com"
SAMPLES = Path(__file__).parent / "samples"

CONFIG = InboundConfig(domain=DOMAIN, secret=SECRET_KEY.encode(), secrets=tuple(SECRETS))


@dataclass(frozen=True)
class Ref:
    """One delivery as the outside world sees it: addresses and identifiers."""

    delivery_id: int
    part_id: int
    subscriber_id: int
    email: str
    list_id: int | None = None

    @property
    def verp(self) -> str:
        return make_return_path(self.delivery_id, secret=SECRET_KEY.encode(), domain=DOMAIN)

    @property
    def message_id(self) -> str:
        return message_id(delivery_id=self.delivery_id, part_id=self.part_id,
                          secret=SECRET_KEY, domain=DOMAIN)

    @property
    def unsubscribe_token(self) -> str:
        return unsubscribe_token(SECRETS, subscriber_id=self.subscriber_id,
                                 list_id=self.list_id)

    @property
    def unsubscribe_address(self) -> str:
        return f"unsubscribe+{self.unsubscribe_token}@{DOMAIN}"


def sample(name: str, ref: Ref) -> bytes:
    """Return sample `name` with its placeholders filled in for `ref`."""
    raw = (SAMPLES / name).read_bytes()
    for key, value in (
        (b"@@VERP@@", ref.verp), (b"@@MSGID@@", ref.message_id),
        (b"@@RCPT@@", ref.email), (b"@@UNSUB@@", ref.unsubscribe_token),
    ):
        raw = raw.replace(key, value.encode())
    return raw


def make_deliveries(engine: Engine, n: int = 8) -> list[Ref]:
    """Seed `n` subscribers, one Send of part 1, and one sent Delivery each."""
    seeded = seed(engine, n)
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        send = Send(part_id=seeded.part_id, status=SendStatus.DONE, scheduled_at=now,
                    started_at=now, finished_at=now, recipients=n)
        session.add(send)
        session.flush()
        list_id = session.execute(select(MailingList.id)).scalar_one()  # type: ignore[call-overload]
        refs = []
        for email in seeded.emails:
            sub = session.execute(
                select(Subscriber).where(Subscriber.email == email)  # type: ignore[arg-type]
            ).scalar_one()
            assert send.id is not None
            d = Delivery(send_id=send.id, part_id=seeded.part_id, subscriber_id=sub.id,
                         email=email, status=DeliveryStatus.SENT, attempts=1, sent_at=now)
            session.add(d)
            session.flush()
            assert d.id is not None and sub.id is not None
            refs.append(Ref(delivery_id=d.id, part_id=seeded.part_id, subscriber_id=sub.id,
                            email=email, list_id=list_id))
    return refs
