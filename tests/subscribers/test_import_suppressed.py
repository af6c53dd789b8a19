"""The importer never subscribes a suppressed address: in another case, or
erased (only its hash kept)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlmodel import Session

from mailer.models import Subscriber
from mailer.services.importer import read_subscriber_file
from mailer.services.privacy import erased_marker
from mailer.services.subscribers import Consent, apply_import
from mailer.services.suppression import add_suppression, email_hash

HEADER = "メールアドレス,氏名"


def test_import_refuses_suppressed_in_any_case_and_erased(engine: Engine, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    with engine.begin() as conn:
        add_suppression(conn, email="Sato@Example.JP", reason="hard bounce: 5.1.1",
                        source="bounce", now=now)
        add_suppression(conn, email="gone@example.jp", reason="erased", source="erasure",
                        now=now, stored_as=erased_marker(email_hash("gone@example.jp")))
    path = tmp_path / "s.csv"
    path.write_text("\r\n".join([HEADER, "sato@example.jp,佐藤", "GONE@example.jp,消去",
                                 "ok@example.jp,可"]) + "\r\n", encoding="utf-8")
    with Session(engine) as session:
        report = apply_import(session=session, parsed=read_subscriber_file(path),
                              list_name=None, consent=Consent("import:s.csv", "test", now))
        session.commit()
    assert report.counts.skipped_suppressed == 2
    assert {s.email.lower() for s in report.skipped} == {"sato@example.jp", "gone@example.jp"}
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Subscriber)).scalar() == 1
