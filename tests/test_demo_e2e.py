"""End to end: the demo flow against a real worker and beat on real Redis,
then every .eml in the outbox parsed back with the email package."""

from __future__ import annotations

import email
import email.policy
from collections import Counter
from pathlib import Path

import pytest
import redis
from sqlmodel import Session, select

from mailer.db import make_engine
from mailer.demo import DEMO_LIST, run_demo
from mailer.models import Delivery, DeliveryStatus, Part, Subscriber
from mailer.samples import SAMPLE_SUBSCRIBERS_CSV
from mailer.services.subscribers import read_subscriber_csv
from mailer.settings import load_settings
from mailer.testing.stack import TEST_SECRET

pytestmark = pytest.mark.slow


def test_demo_delivers_each_part_once_to_each_subscriber(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    redis.Redis.from_url(redis_url).flushdb()
    settings = load_settings(
        var_dir=tmp_path / "var",
        database_url=database_url,
        redis_url=redis_url,
        secret_key=TEST_SECRET,
        base_url="https://mailer.example.com",
        rate_limit="500/s",
    )
    result = run_demo(settings, part2_delay=3.0, timeout=150)
    assert result.ok, result.message
    assert [label for label, _ in result.progress] == ["part1", "part2"]
    expected = {row["email"] for row in read_subscriber_csv(SAMPLE_SUBSCRIBERS_CSV)}
    assert len(expected) == 62
    for _, p in result.progress:
        assert p.recipients == 62
        assert p.counts[DeliveryStatus.SENT] == 62

    engine = make_engine(database_url)
    with Session(engine) as session:
        parts = {p.id: p for p in session.exec(select(Part)).all()}
        subject_of = {p.label: p.subject for p in parts.values()}
        names = {s.email: s.name for s in session.exec(select(Subscriber)).all()}
        ledger = session.exec(select(Delivery)).all()
    engine.dispose()
    assert len(ledger) == 124 and all(d.status is DeliveryStatus.SENT for d in ledger)

    files = sorted(result.outbox.glob("*.eml"))  # type: ignore[union-attr]
    assert len(files) == 124
    seen: Counter[tuple[str, str]] = Counter()
    message_ids = set()
    for f in files:
        msg = email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
        to = msg["To"].addresses[0]
        assert to.addr_spec in expected
        assert to.display_name.startswith(names[to.addr_spec])
        subject = str(msg["Subject"])
        label = next(lbl for lbl, subj in subject_of.items() if subj == subject)
        seen[(label, to.addr_spec)] += 1
        assert msg.get_content_type() == "multipart/alternative"
        text = msg.get_body(("plain",))
        html = msg.get_body(("html",))
        assert text is not None and html is not None
        assert len(text.get_content()) > 1000
        assert "<html" in html.get_content()
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert msg["Message-ID"] not in message_ids
        message_ids.add(msg["Message-ID"])
    assert set(seen.values()) == {1}
    assert {addr for (_, addr) in seen} == expected
    assert {label for (label, _) in seen} == {"part1", "part2"}
    assert DEMO_LIST == "cio-forum"
