"""Is this address suppressed? One answer, and one way to add an address.

An address is suppressed when a `suppression` row carries the hash of its
normalised form (trimmed, lower-cased): so `Sato@Example.JP` suppressed
stops `sato@example.jp`, and an erased address (only its hash kept, email
`erased:<hash>`) is never mailed or imported again.

Every subscriber row stores the same hash (`subscriber.email_hash`, kept by
the model's column default and ORM hooks), so set-based statements (the
ledger's freeze of a million rows) match with one equality on an indexed
column instead of hashing in SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, exists, select
from sqlalchemy.dialects import postgresql, sqlite

from mailer.addresses import email_hash, normalise
from mailer.models import Suppression

SUP = Suppression.__table__  # type: ignore[attr-defined]

#: Hashes per lookup statement (well under SQLite's bound-parameter limit).
LOOKUP_CHUNK = 2000


def suppressed_clause(hash_column: Any) -> ColumnElement[bool]:
    """Return `EXISTS (suppression with this hash)` for use inside a statement.

    `hash_column` is a stored hash such as `subscriber.email_hash`; the match
    is one equality on the indexed `suppression.email_hash` (PostgreSQL plans a
    hash anti-join for `NOT EXISTS` over a whole list).
    """
    return exists().where(SUP.c.email_hash == hash_column)


def suppression_reason(conn: Connection, email: str) -> str | None:
    """Return the reason `email` is suppressed ("" when none was given), or None."""
    row = conn.execute(
        select(SUP.c.reason).where(SUP.c.email_hash == email_hash(email))
        .order_by(SUP.c.id).limit(1)
    ).first()
    return None if row is None else str(row.reason)


def suppressed_among(conn: Connection, emails: Sequence[str]) -> dict[str, tuple[int, str]]:
    """Return {normalised address: (suppression id, reason)} for those suppressed."""
    by_hash = {email_hash(e): normalise(e) for e in emails}
    found: dict[str, tuple[int, str]] = {}
    keys = sorted(by_hash)
    for start in range(0, len(keys), LOOKUP_CHUNK):
        chunk = keys[start:start + LOOKUP_CHUNK]
        stmt = select(SUP.c.id, SUP.c.email_hash, SUP.c.reason).where(
            SUP.c.email_hash.in_(chunk)).order_by(SUP.c.id)
        for sid, digest, reason in conn.execute(stmt):
            found.setdefault(by_hash[digest], (sid, reason))
    return found


def add_suppression(
    conn: Connection, *, email: str, reason: str, source: str, now: datetime | None = None,
    stored_as: str | None = None,
) -> bool:
    """Suppress `email` unless its hash is suppressed already; return True if added.

    `source` (bounce, smtp, feedback-loop, admin, api, import, erasure)
    stands as the reason when none is given. `stored_as` replaces the address kept in
    the row (an erasure keeps only `erased:<hash>`). ON CONFLICT DO NOTHING:
    a bounce, a complaint and an administrator may add the same address at
    the same moment.
    """
    digest = email_hash(email)
    if conn.execute(select(SUP.c.id).where(SUP.c.email_hash == digest).limit(1)).first():
        return False
    text = reason or source
    values = {"email": stored_as or email, "email_hash": digest, "reason": text[:500],
              "created_at": now or datetime.now(UTC)}
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(SUP).values(**values).on_conflict_do_nothing(index_elements=["email"])
    return bool(conn.execute(stmt).rowcount)
