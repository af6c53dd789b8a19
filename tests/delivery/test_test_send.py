"""A test send goes out as readers' mail does: through the relay pool with
failover, DKIM-signed, from the VERP bounce address; marked as a test and
outside the ledger. Real aiosmtpd relays in this process (their FaultPlan is
the one seam) and a real database."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from test_dkim import _genrsa, verify

from mailer.delivery.dkim import load_dkim_key
from mailer.delivery.engine import return_path
from mailer.delivery.verp import TEST_DELIVERY_ID, parse_return_path
from mailer.embedded.smtp_sink import FaultPlan, SmtpSink
from mailer.models import Delivery
from mailer.runtime import delivery_config
from mailer.services.errors import ErrorKind, ServiceError
from mailer.services.test_send import test_send_part as send_test
from mailer.settings import Settings, load_settings
from mailer.testing.seed import seed
from mailer.testing.stack import TEST_SECRET

FROM = "CIOフォーラム事務局 <news@news.example.jp>"
SELECTOR = "news2026"
TO = ["editor@example.com", "chief@example.org"]
REFUSE_ALL = FaultPlan(lambda stage, rcpt, attempt: "421 4.3.2 service shutting down")


@pytest.fixture(scope="module")
def key_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _genrsa(tmp_path_factory.mktemp("dkim") / "news.pem", 2048)


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as s:
        yield s


def settings_for(database_url: str, *relays: SmtpSink, **extra: object) -> Settings:
    return load_settings(
        database_url=database_url,
        smtp_url=",".join(r.url for r in relays),
        secret_key=TEST_SECRET,
        base_url="https://mailer.example.com",
        MAILER_FROM=FROM,
        bounce_domain="bounce.news.example.jp",
        dkim_selector=SELECTOR,
        **extra,
    )


def deliveries(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Delivery)).scalar_one())


def test_signed_from_the_verp_address_and_marked_as_a_test(
    engine: Engine, database_url: str, sink: SmtpSink, key_path: Path
) -> None:
    part_id = seed(engine, 1).part_id
    settings = settings_for(database_url, sink, dkim_key_file=key_path)
    results = send_test(engine=engine, settings=settings, part_id=part_id, addresses=TO)
    assert results == [(a, "sent") for a in TO]
    assert [a.recipients for a in sink.accepted] == [(a,) for a in TO]
    key = load_dkim_key(key_path, selector=SELECTOR, domain="news.example.jp")
    for accepted in sink.accepted:
        assert accepted.data.startswith(b"DKIM-Signature:")
        assert verify(accepted.data, key)
        # the envelope sender a delivery has, for an id no ledger row has:
        # a bounce of a test send matches no delivery
        assert accepted.mail_from == return_path(delivery_config(settings), TEST_DELIVERY_ID)
        assert accepted.mail_from.startswith("bounces+")
        assert accepted.mail_from.endswith("@bounce.news.example.jp")
        assert parse_return_path(accepted.mail_from, secret=TEST_SECRET.encode()) == (
            TEST_DELIVERY_ID)
        msg = email.message_from_bytes(accepted.data, policy=email.policy.default)
        assert "テスト" in str(msg["Subject"])
    assert deliveries(engine) == 0


def test_a_relay_answering_421_hands_the_mail_to_the_next(
    engine: Engine, database_url: str, sink: SmtpSink
) -> None:
    part_id = seed(engine, 1).part_id
    with SmtpSink(faults=REFUSE_ALL) as first:
        settings = settings_for(database_url, first, sink)
        results = send_test(engine=engine, settings=settings, part_id=part_id, addresses=TO)
    assert results == [(a, "sent") for a in TO]
    assert first.accepted == []
    assert [a.recipients for a in sink.accepted] == [(a,) for a in TO]
    assert deliveries(engine) == 0


def test_every_relay_refusing_is_said_per_address(engine: Engine, database_url: str) -> None:
    part_id = seed(engine, 1).part_id
    with SmtpSink(faults=REFUSE_ALL) as first, SmtpSink(faults=REFUSE_ALL) as second:
        settings = settings_for(database_url, first, second)
        results = send_test(engine=engine, settings=settings, part_id=part_id, addresses=TO)
    assert [a for a, _ in results] == TO
    assert all(outcome.startswith("送信できませんでした") for _, outcome in results)
    assert "421 4.3.2 service shutting down" in results[0][1]
    assert first.accepted == second.accepted == []


def test_refusals_are_service_errors_in_japanese(
    engine: Engine, database_url: str, sink: SmtpSink, tmp_path: Path
) -> None:
    part_id = seed(engine, 1).part_id
    settings = settings_for(database_url, sink)
    cases = [
        (settings, part_id, ["not-an-address"], ErrorKind.INVALID, "not-an-address"),
        (settings, 9999, TO, ErrorKind.NOT_FOUND, "パート 9999 はありません"),
        (settings.model_copy(update={"smtp_url": None}), part_id, TO, ErrorKind.CONFLICT,
         "MAILER_SMTP_URL"),
        (settings.model_copy(update={"dkim_key_file": tmp_path / "missing.pem"}), part_id, TO,
         ErrorKind.UNAVAILABLE, "DKIM"),
    ]
    for case_settings, part, to, kind, words in cases:
        with pytest.raises(ServiceError) as err:
            send_test(engine=engine, settings=case_settings, part_id=part, addresses=to)
        assert err.value.kind is kind and words in err.value.message
    assert err.value.message.isascii() is False
    assert sink.accepted == []
