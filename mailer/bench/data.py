"""Fill a fresh database: schema, the sample issue, N subscribers in bulk."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select

from mailer.compose.load import load_issue
from mailer.db import session_scope, upgrade
from mailer.models import Part
from mailer.samples import SAMPLE_ISSUE_DIR
from mailer.services.suppression import email_hash

LIST = "bench"
CHUNK = 5000
SUBSCRIBER_COLUMNS = (
    "email",
    "email_hash",
    "name",
    "honorific",
    "organisation",
    "organisation_kind",
    "job_title",
    "roles",
    "format",
    "charset",
    "status",
    "consent_source",
    "consent_by",
    "consent_at",
    "created_at",
    "updated_at",
)


@dataclass(frozen=True)
class Seeded:
    part_id: int
    list_name: str
    subscribers: int
    seconds: float


def email_of(i: int) -> str:
    return f"cio{i:07d}@city{i % 1000:03d}.example.jp"


def _row(i: int, stamp: object) -> tuple[object, ...]:
    return (
        email_of(i),
        email_hash(email_of(i)),
        f"髙橋 太郎{i}",
        "様",
        "武蔵野市",
        "市",
        "CIO",
        "CIO",
        "html",
        "utf-8",
        "active",
        "bench",
        "",
        stamp,
        stamp,
        stamp,
    )


def insert_subscribers(engine: Engine, n: int, *, list_name: str = LIST) -> None:
    """Insert n active html/utf-8 subscribers and put them all on `list_name`.

    PostgreSQL: COPY in chunks; SQLite: executemany in chunks. Memberships
    by one INSERT … SELECT. No ORM.
    """
    now = datetime.now(UTC)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if engine.dialect.name == "postgresql":
            cur.execute(
                "INSERT INTO mailing_list (name, title, created_at) VALUES (%s, %s, %s) "
                "RETURNING id",
                (list_name, "bench", now),
            )
            row = cur.fetchone()
            assert row is not None
            list_id = row[0]
            cols = ", ".join(SUBSCRIBER_COLUMNS)
            for start in range(0, n, CHUNK):
                with cur.copy(f"COPY subscriber ({cols}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                    for i in range(start, min(n, start + CHUNK)):
                        copy.write_row(_row(i, now))
            cur.execute(
                "INSERT INTO membership (list_id, subscriber_id, created_at) "
                "SELECT %s, id, %s FROM subscriber",
                (list_id, now),
            )
        else:
            cur.execute(
                "INSERT INTO mailing_list (name, title, created_at) VALUES (?, ?, ?)",
                (list_name, "bench", now.isoformat(" ")),
            )
            list_id = cur.lastrowid
            marks = ", ".join("?" for _ in SUBSCRIBER_COLUMNS)
            sql = f"INSERT INTO subscriber ({', '.join(SUBSCRIBER_COLUMNS)}) VALUES ({marks})"
            stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
            for start in range(0, n, CHUNK):
                chunk = [_row(i, stamp) for i in range(start, min(n, start + CHUNK))]
                cur.executemany(sql, chunk)
            cur.execute(
                "INSERT INTO membership (list_id, subscriber_id, created_at) "
                "SELECT ?, id, ? FROM subscriber",
                (list_id, stamp),
            )
        raw.commit()
        cur.close()
    finally:
        raw.close()


def prepare_database(engine: Engine, n: int) -> Seeded:
    """Migrate, load the sample issue, insert n subscribers; return part 1's id."""
    t0 = time.perf_counter()
    upgrade(engine)
    with session_scope(engine) as session:
        load_issue(session=session, path=SAMPLE_ISSUE_DIR)
        part_id = (
            session.execute(
                select(Part.id).order_by(Part.position)  # type: ignore[call-overload]
            )
            .scalars()
            .first()
        )
    if part_id is None:
        raise RuntimeError("the sample issue has no parts")
    insert_subscribers(engine, n)
    return Seeded(int(part_id), LIST, n, time.perf_counter() - t0)
