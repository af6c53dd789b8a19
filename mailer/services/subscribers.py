"""Subscribers and lists (the minimal set the foundation needs).

The full importer (encodings, validation report, segments) is issue 5's; this
module upserts well-formed rows and manages list membership.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlmodel import Session

from mailer.models import MailingList, Membership, Subscriber

#: CSV header (Japanese or English) -> Subscriber field
HEADER_MAP: Mapping[str, str] = {
    "メールアドレス": "email", "email": "email",
    "氏名": "name", "name": "name",
    "団体名": "organisation", "organisation": "organisation", "organization": "organisation",
    "団体区分": "organisation_kind", "organisation_kind": "organisation_kind",
    "役職": "job_title", "job_title": "job_title",
    "役割": "roles", "roles": "roles",
    "敬称": "honorific", "honorific": "honorific",
    "形式": "format", "format": "format",
    "文字コード": "charset", "charset": "charset",
}


class SubscriberFileError(ValueError):
    """A subscriber file could not be read; the message names file and row."""


def read_subscriber_csv(path: Path) -> list[dict[str, str]]:
    """Return the rows of a UTF-8 (BOM optional) subscriber CSV as field dicts.

    Raises SubscriberFileError naming the file, row and column on bad input.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SubscriberFileError(f"{path}: {exc}") from exc
    reader = csv.DictReader(text.splitlines())
    unknown = [h for h in reader.fieldnames or [] if h.strip() not in HEADER_MAP]
    if unknown:
        raise SubscriberFileError(f"{path}:1: unknown column(s): {', '.join(unknown)}")
    rows = []
    for n, raw in enumerate(reader, start=2):
        row = {HEADER_MAP[k.strip()]: (v or "").strip() for k, v in raw.items() if k}
        if "@" not in row.get("email", ""):
            raise SubscriberFileError(f"{path}:{n}: メールアドレス: not an email address")
        row["email"] = row["email"].lower()
        rows.append(row)
    return rows


def ensure_list(*, session: Session, name: str, title: str = "") -> MailingList:
    ml = session.execute(select(MailingList).where(MailingList.name == name)).scalars().first()  # type: ignore[arg-type]
    if ml is None:
        ml = MailingList(name=name, title=title or name)
        session.add(ml)
        session.flush()
    return ml


def upsert_subscribers(
    *, session: Session, rows: Iterable[Mapping[str, str]], list_name: str | None,
    consent_source: str = "import",
) -> int:
    """Create or update subscribers by email and add them to a list; return count."""
    ml = ensure_list(session=session, name=list_name) if list_name else None
    now = datetime.now(UTC)
    count = 0
    for row in rows:
        sub = session.execute(
            select(Subscriber).where(Subscriber.email == row["email"])  # type: ignore[arg-type]
        ).scalars().first()
        if sub is None:
            sub = Subscriber(email=row["email"], consent_source=consent_source, consent_at=now)
            session.add(sub)
        for key, value in row.items():
            if key != "email" and value:
                setattr(sub, key, value)
        sub.updated_at = now
        session.flush()
        if ml is not None and session.get(Membership, (ml.id, sub.id)) is None:
            session.add(Membership(list_id=ml.id, subscriber_id=sub.id))  # type: ignore[arg-type]
        count += 1
    session.flush()
    return count
