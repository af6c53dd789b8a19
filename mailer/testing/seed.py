"""Seed a database with the sample issue and synthetic subscribers (tests, benchmarks)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from mailer.compose.load import load_issue
from mailer.db import session_scope
from mailer.models import Part
from mailer.samples import SAMPLE_ISSUE_DIR
from mailer.services.subscribers import upsert_subscribers

LIST = "cio-forum"


@dataclass(frozen=True)
class Seeded:
    part_id: int
    part2_id: int
    emails: list[str]


def seed(engine: Engine, n: int, *, list_name: str = LIST, start: int = 0) -> Seeded:
    """Load the sample issue and `n` subscribers on one list."""
    with session_scope(engine) as session:
        load_issue(session=session, path=SAMPLE_ISSUE_DIR)
        emails = [f"cio{i:05d}@city{i:05d}.example.jp" for i in range(start, start + n)]
        upsert_subscribers(
            session=session,
            rows=[
                {"email": e, "name": f"髙橋 太郎{i}", "organisation": "武蔵野市"}
                for i, e in enumerate(emails)
            ],
            list_name=list_name,
        )
        parts = session.execute(select(col(Part.id)).order_by(col(Part.position))).scalars().all()
    return Seeded(part_id=parts[0], part2_id=parts[1], emails=emails)


def add_subscribers(engine: Engine, emails: list[str], *, list_name: str = LIST) -> None:
    with Session(engine) as session:
        upsert_subscribers(
            session=session, rows=[{"email": e} for e in emails], list_name=list_name
        )
        session.commit()
