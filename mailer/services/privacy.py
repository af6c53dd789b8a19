"""Data care for one person: export everything stored about them, or erase it.

Both start from one address and find the same records (`_find`), so an
erasure removes exactly what an export shows:

- the subscriber row (matched case-insensitively) and the addresses the
  ledger froze for it (an address changed since is still theirs);
- memberships, subscriber events, ledger rows;
- inbound messages linked to them (by subscriber or delivery) or naming one
  of their addresses anywhere (sender, recipient, summary, raw text);
- suppression entries for their addresses (plain, or already erased: hash);
- audit log entries naming one of their addresses.

An erasure keeps two things, neither of which holds the address: a
suppression row `erased:<sha256>` so the address is never mailed or imported
again (the importer checks `email_hash`), and per-state counts of the deleted
ledger rows in `Send.counts_json` so each send's totals still add up to its
`recipients`. Texts that belong to other records (audit entries, other
people's events or ledger errors) keep their row with the address replaced
by `erased:<sha256>`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, or_, select, update

from mailer.i18n import _
from mailer.models import (
    AuditLog,
    Delivery,
    DeliveryStatus,
    InboundMessage,
    Issue,
    MailingList,
    Membership,
    Part,
    Subscriber,
    SubscriberEvent,
    Suppression,
)
from mailer.services.retention import add_removed_counts
from mailer.services.suppression import add_suppression, email_hash

SUB = Subscriber.__table__  # type: ignore[attr-defined]
MEM = Membership.__table__  # type: ignore[attr-defined]
ML = MailingList.__table__  # type: ignore[attr-defined]
EVT = SubscriberEvent.__table__  # type: ignore[attr-defined]
D = Delivery.__table__  # type: ignore[attr-defined]
PART = Part.__table__  # type: ignore[attr-defined]
ISSUE = Issue.__table__  # type: ignore[attr-defined]
IM = InboundMessage.__table__  # type: ignore[attr-defined]
SUP = Suppression.__table__  # type: ignore[attr-defined]
AUDIT = AuditLog.__table__  # type: ignore[attr-defined]

ERASED_REASON = "erased on request"
ERASE_ACTION = "subscriber.erase"
#: Ledger states still owed an attempt; an erased row in one of them was never
#: going to be sent, and is counted as skipped.
_OPEN = frozenset({DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.DEFERRED})


class UnknownSubscriberError(LookupError):
    """Nothing is stored about the address (or only the hash of an erasure)."""


def erased_marker(digest: str) -> str:
    """Return what stands in for an erased address: `erased:<sha256>`."""
    return f"erased:{digest}"


@dataclass(frozen=True)
class ErasureReport:
    """What an erasure removed or changed (counts of rows)."""

    email_hash: str
    subscriber_id: int | None
    memberships: int = 0
    events: int = 0
    deliveries: int = 0
    sends_counted: list[int] = field(default_factory=list)  # sends whose counts_json grew
    inbound_messages: int = 0
    suppression: str = ""  # "added" or "converted"
    redacted: int = 0  # other rows whose text named the address, now "erased:<hash>"

    def lines(self) -> list[str]:
        """Return the report as lines for a person to read (no address in them)."""
        who = (_("#{id} を削除").format(id=self.subscriber_id)
               if self.subscriber_id is not None else _("なし"))
        counted = (_("（配信 {sends} の件数に計上）").format(
            sends="、".join(map(str, self.sends_counted))) if self.sends_counted else "")
        suppression = {"added": _("追加"), "converted": _("置き換え")}.get(
            self.suppression, self.suppression)
        return [
            _("購読者: {who}").format(who=who),
            _("削除したリスト登録: {count}").format(count=self.memberships),
            _("削除した履歴: {count}").format(count=self.events),
            _("削除した配信記録: {count}{counted}").format(count=self.deliveries,
                                                     counted=counted),
            _("削除した受信メール: {count}").format(count=self.inbound_messages),
            _("配信抑止: {how}（{marker}）").format(how=suppression,
                                                   marker=erased_marker(self.email_hash)),
            _("伏せたほかの行: {count}").format(count=self.redacted),
        ]


@dataclass
class _Found:
    subscriber: Any | None
    addresses: list[str]  # lower-cased, the given address first
    delivery_ids: list[int]
    event_ids: list[int]
    inbound_ids: list[int]
    suppression_ids: list[int]


def _norm(email: str) -> str:
    return email.strip().lower()


def _mentions(column: Any, addresses: Sequence[str]) -> Any:
    return or_(*(func.lower(column).contains(a, autoescape=True) for a in addresses))


def _find(conn: Connection, email: str, *, lock: bool = False) -> _Found:
    address = _norm(email)
    stmt = select(SUB).where(func.lower(SUB.c.email) == address).order_by(SUB.c.id)
    subscriber = conn.execute(stmt.with_for_update() if lock else stmt).first()
    addresses = [address]
    delivery_ids: list[int] = []
    event_ids: list[int] = []
    linked = []
    if subscriber is not None:
        sid = subscriber.id
        for did, frozen in conn.execute(
            select(D.c.id, D.c.email).where(D.c.subscriber_id == sid).order_by(D.c.id)
        ):
            delivery_ids.append(did)
            if _norm(frozen) and _norm(frozen) not in addresses:
                addresses.append(_norm(frozen))
        event_ids = list(conn.execute(
            select(EVT.c.id).where(EVT.c.subscriber_id == sid).order_by(EVT.c.id)).scalars())
        linked.append(IM.c.subscriber_id == sid)
        if delivery_ids:
            linked.append(IM.c.delivery_id.in_(delivery_ids))
    inbound_ids = list(conn.execute(select(IM.c.id).where(or_(
        *linked, *(_mentions(IM.c[name], addresses)
                   for name in ("mail_from", "rcpt_to", "summary", "raw")),
    )).order_by(IM.c.id)).scalars())
    hashes = [email_hash(a) for a in addresses]
    suppression_ids = list(conn.execute(select(SUP.c.id).where(or_(
        func.lower(SUP.c.email).in_(addresses), SUP.c.email_hash.in_(hashes),
    )).order_by(SUP.c.id)).scalars())
    return _Found(subscriber, addresses, delivery_ids, event_ids, inbound_ids, suppression_ids)


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _rows(conn: Connection, stmt: Any) -> list[dict[str, Any]]:
    return [{k: _plain(v) for k, v in row._mapping.items()} for row in conn.execute(stmt)]


def export_subscriber_data(*, engine: Engine, email: str) -> dict[str, Any]:
    """Return everything stored about the person with this address, JSON-ready.

    Keys: `subscriber` (the row, or None when only other traces remain),
    `memberships`, `events`, `deliveries` (with issue and part titles),
    `inbound_messages` (raw text included), `suppressions` and `audit_log`
    (entries naming the address). Times are ISO 8601 in UTC.
    Raises UnknownSubscriberError when nothing is stored about the address.
    """
    with engine.connect() as conn:
        found = _find(conn, email)
        if found.subscriber is None and not found.inbound_ids and not found.suppression_ids:
            raise UnknownSubscriberError(
                _("{email} の購読者もほかの記録もありません").format(email=email))
        sid = found.subscriber.id if found.subscriber is not None else None
        memberships = _rows(conn, select(
            ML.c.name.label("list"), ML.c.title.label("list_title"),
            MEM.c.created_at.label("since"),
        ).join(ML, ML.c.id == MEM.c.list_id).where(MEM.c.subscriber_id == sid).order_by(ML.c.name))
        events = _rows(conn, select(
            EVT.c.id, EVT.c.created_at.label("at"), EVT.c.kind, EVT.c.detail, EVT.c.source,
            EVT.c.delivery_id,
        ).where(EVT.c.id.in_(found.event_ids)).order_by(EVT.c.id))
        deliveries = _rows(conn, select(
            D.c.id, D.c.send_id, ISSUE.c.number.label("issue_number"),
            ISSUE.c.title.label("issue_title"), PART.c.label.label("part_label"),
            PART.c.title.label("part_title"), PART.c.subject, D.c.email, D.c.status,
            D.c.attempts, D.c.message_id, D.c.relay, D.c.last_error, D.c.created_at,
            D.c.updated_at, D.c.sent_at, D.c.next_attempt_at,
        ).join(PART, PART.c.id == D.c.part_id).join(ISSUE, ISSUE.c.id == PART.c.issue_id)
            .where(D.c.id.in_(found.delivery_ids)).order_by(D.c.id))
        inbound = _rows(conn, select(
            IM.c.id, IM.c.received_at, IM.c.kind, IM.c.mail_from, IM.c.rcpt_to,
            IM.c.delivery_id, IM.c.summary, IM.c.raw,
        ).where(IM.c.id.in_(found.inbound_ids)).order_by(IM.c.id))
        suppressions = _rows(conn, select(
            SUP.c.email, SUP.c.reason, SUP.c.created_at,
        ).where(SUP.c.id.in_(found.suppression_ids)).order_by(SUP.c.id))
        audit = _rows(conn, select(
            AUDIT.c.at, AUDIT.c.actor, AUDIT.c.action, AUDIT.c.target_type, AUDIT.c.target_id,
            AUDIT.c.detail,
        ).where(or_(_mentions(AUDIT.c.target_id, found.addresses),
                    _mentions(AUDIT.c.detail, found.addresses))).order_by(AUDIT.c.id))
        subscriber = (
            {k: _plain(v) for k, v in found.subscriber._mapping.items()}
            if found.subscriber is not None else None
        )
    return {
        "exported_at": _plain(datetime.now(UTC)),
        "email": email.strip(),
        "subscriber": subscriber,
        "memberships": memberships,
        "events": events,
        "deliveries": deliveries,
        "inbound_messages": inbound,
        "suppressions": suppressions,
        "audit_log": audit,
    }


def _redact(text: str, addresses: Iterable[str]) -> str:
    for address in addresses:
        text = re.sub(re.escape(address), erased_marker(email_hash(address)), text,
                      flags=re.IGNORECASE)
    return text


def _redact_column(conn: Connection, table: Any, column: str, addresses: Sequence[str]) -> int:
    rows = conn.execute(select(table.c.id, table.c[column])
                        .where(_mentions(table.c[column], addresses))).all()
    for row_id, text in rows:
        conn.execute(update(table).where(table.c.id == row_id)
                     .values({column: _redact(text, addresses)}))
    return len(rows)


def _suppress_erased(conn: Connection, found: _Found, *, now: datetime) -> str:
    """Leave exactly one `erased:<hash>` row per address that had one (always one
    for the given address); return "added" or "converted" for the given address."""
    rows = conn.execute(select(SUP.c.id, SUP.c.email, SUP.c.email_hash)
                        .where(SUP.c.id.in_(found.suppression_ids)).order_by(SUP.c.id)).all()
    by_hash: dict[str, list[int]] = {}
    for row_id, stored, digest in rows:
        key = digest or email_hash(stored)
        if stored.startswith("erased:"):
            key = stored.removeprefix("erased:")
        by_hash.setdefault(key, []).append(row_id)
    outcome = "added"
    for address in found.addresses:
        digest = email_hash(address)
        ids = by_hash.pop(digest, [])
        if ids:
            keep, extra = ids[0], ids[1:]
            if extra:
                conn.execute(delete(SUP).where(SUP.c.id.in_(extra)))
            conn.execute(update(SUP).where(SUP.c.id == keep).values(
                email=erased_marker(digest), email_hash=digest, reason=ERASED_REASON))
            if address == found.addresses[0]:
                outcome = "converted"
        elif address == found.addresses[0]:
            add_suppression(conn, email=address, reason=ERASED_REASON, source="erasure",
                            now=now, stored_as=erased_marker(digest))
    return outcome


def erase_subscriber(
    *, engine: Engine, email: str, actor: str, reason: str = "", now: datetime | None = None
) -> ErasureReport:
    """Erase everything stored about the person with this address, in one transaction.

    Deletes the subscriber, memberships, events, ledger rows (their states are
    added to each send's `counts_json`; a row still owed an attempt counts as
    skipped) and inbound messages; leaves the suppression row
    `erased:<hash>`; replaces the address in other rows' text; writes an
    AuditLog row (`subscriber.erase`, target the hash, never the address).
    Returns the report. Raises UnknownSubscriberError when nothing but an
    earlier erasure is stored, and ValueError without an actor.
    """
    if not actor.strip():
        raise ValueError(_("消去には依頼した人（actor）が要ります"))
    now = now or datetime.now(UTC)
    digest = email_hash(email)
    with engine.begin() as conn:
        found = _find(conn, email, lock=True)
        suppressed = list(conn.execute(select(SUP.c.email).where(
            SUP.c.id.in_(found.suppression_ids))).scalars())
        erased_before = erased_marker(digest) in suppressed
        if found.subscriber is None and not found.inbound_ids and (
                erased_before or not suppressed):
            raise UnknownSubscriberError(
                _("{email}: もう消去されています").format(email=email) if erased_before
                else _("{email} の購読者もほかの記録もありません").format(email=email))
        sid = found.subscriber.id if found.subscriber is not None else None

        per_send: dict[int, Counter[DeliveryStatus]] = {}
        if found.delivery_ids:
            for send_id, status, n in conn.execute(
                select(D.c.send_id, D.c.status, func.count())
                .where(D.c.id.in_(found.delivery_ids)).group_by(D.c.send_id, D.c.status)
            ):
                state = DeliveryStatus(status)
                per_send.setdefault(send_id, Counter())[
                    DeliveryStatus.SKIPPED if state in _OPEN else state] += int(n)
        for send_id in sorted(per_send):
            add_removed_counts(conn, send_id, per_send[send_id])

        memberships = events = deliveries = 0
        if sid is not None:
            memberships = conn.execute(delete(MEM).where(MEM.c.subscriber_id == sid)).rowcount
            events = conn.execute(delete(EVT).where(EVT.c.subscriber_id == sid)).rowcount
            deliveries = conn.execute(delete(D).where(D.c.subscriber_id == sid)).rowcount
        inbound = 0
        if found.inbound_ids:
            inbound = conn.execute(delete(IM).where(IM.c.id.in_(found.inbound_ids))).rowcount
        suppression = _suppress_erased(conn, found, now=now)
        redacted = sum(_redact_column(conn, table, column, found.addresses) for table, column in (
            (EVT, "detail"), (D, "last_error"), (AUDIT, "target_id"), (AUDIT, "detail"),
        ))
        if sid is not None:
            conn.execute(delete(SUB).where(SUB.c.id == sid))
        report = ErasureReport(
            email_hash=digest, subscriber_id=sid, memberships=int(memberships or 0),
            events=int(events or 0), deliveries=int(deliveries or 0),
            sends_counted=sorted(per_send), inbound_messages=int(inbound or 0),
            suppression=suppression, redacted=redacted,
        )
        detail = "; ".join(report.lines())  # the report's own sentences
        why = _redact(reason.strip(), found.addresses)
        conn.execute(insert(AUDIT).values(
            at=now, actor=actor, action=ERASE_ACTION, target_type="subscriber",
            target_id=digest, detail=f"{why}; {detail}" if why else detail,
        ))
    return report


__all__ = [
    "ERASED_REASON", "ERASE_ACTION", "ErasureReport", "UnknownSubscriberError",
    "erase_subscriber", "erased_marker", "export_subscriber_data",
]
