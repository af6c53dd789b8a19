"""Subscribers and lists: bulk upsert of imported rows, list management.

An import is planned from a few set-based reads (existing subscribers,
suppressions, list members, per-list unsubscribes; each in chunks of the
file's addresses), then written with a few set-based statements (multi-row
INSERTs, one executemany UPDATE of the changed rows only). Everything runs in
the caller's transaction, so a file is applied whole or not at all.

Addresses are compared case-insensitively; a stored address keeps the case of
its local part as first given.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update
from sqlmodel import Session

from mailer.i18n import _
from mailer.labels import SUBSCRIBER_LABELS
from mailer.models import (
    SEARCH_KEY_FIELDS,
    ListVisibility,
    MailingList,
    Membership,
    Subscriber,
    SubscriberEvent,
    SubscriberStatus,
    Suppression,
    subscriber_search_key,
)
from mailer.services.errors import ErrorKind, ServiceError
from mailer.services.importer import (
    FIELDS,
    HEADER_MAP,
    ImportedSubscriber,
    ParsedFile,
    Rejection,
    SubscriberFileError,
    read_subscriber_file,
)
from mailer.services.subscriber_fields import defaults
from mailer.services.suppression import suppressed_among

__all__ = [
    "HEADER_MAP", "Consent", "ImportCounts", "ImportReport", "ListExistsError", "ListSummary",
    "NoSuchListError", "Skipped", "SubscriberFileError", "apply_import", "create_list",
    "ensure_list", "list_summaries", "read_subscriber_csv", "upsert_subscribers",
]

SUB = Subscriber.__table__  # type: ignore[attr-defined]
MEM = Membership.__table__  # type: ignore[attr-defined]
SUP = Suppression.__table__  # type: ignore[attr-defined]
EVT = SubscriberEvent.__table__  # type: ignore[attr-defined]
ML = MailingList.__table__  # type: ignore[attr-defined]

#: Addresses per lookup statement (well under SQLite's 32766 bound parameters).
LOOKUP_CHUNK = 2000
#: Rows handed to one executemany (bounds memory; the driver batches further).
INSERT_CHUNK = 1000
#: Event detail for a subscription change that names no list (as the web app writes it).
ALL_LISTS = "all lists"
DATA_FIELDS = FIELDS[1:]  # everything but the address

T = TypeVar("T")


class NoSuchListError(LookupError):
    """A list named on the command line does not exist."""


class ListExistsError(ValueError):
    """A list of that name exists already."""


@dataclass(frozen=True)
class Consent:
    """Who imported, from where, when: recorded on every created subscriber."""

    source: str  # "import:<filename>"
    by: str  # the operator ($USER) or "cli"
    at: datetime


@dataclass
class ImportCounts:
    created: int = 0
    updated: int = 0  # fields, status or list membership changed
    unchanged: int = 0
    rejected: int = 0
    skipped_suppressed: int = 0  # not resubscribed: status, Suppression or list unsubscribe
    added_to_list: int = 0
    resubscribed: int = 0


@dataclass(frozen=True)
class Skipped:
    line: int
    email: str
    reason: str


@dataclass
class ImportReport:
    """Outcome of one file: counts, and every row not applied with its reason."""

    file: str
    encoding: str
    list_name: str | None
    dry_run: bool
    counts: ImportCounts
    rejected: list[Rejection] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _among(column: Any, values: Sequence[Any]) -> Any:
    """`column IN (values)` with the values rendered into the SQL text.

    psycopg prepares a statement once its text has run five times, and
    PostgreSQL may then keep one generic plan for it. A plan made while the
    table was nearly empty (early in a first import) is a sequential scan that
    compares every row with each of the 2000 parameters, which took seconds per
    chunk once the table had filled. With the values inlined every chunk is
    planned with its constants (index lookup, or a hashed IN list). The values
    are addresses and ids, rendered by SQLAlchemy's own quoting.
    """
    return column.in_(bindparam(f"among_{column.key}", list(values), expanding=True,
                                literal_execute=True))


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# -- the legacy API (demo, seed helpers) ---------------------------------------


def read_subscriber_csv(path: Path) -> list[dict[str, str]]:
    """Return the valid rows of a subscriber CSV as field dicts (blank cells left out).

    Raises SubscriberFileError naming the file (and line) if the file cannot be
    read or any row is invalid.
    """
    parsed = read_subscriber_file(path)
    if parsed.rejected:
        raise SubscriberFileError("\n".join(f"{path}:{r.line}: {r.reason}"
                                            for r in parsed.rejected))
    return [row.values() for row in parsed.rows]


def ensure_list(*, session: Session, name: str, title: str = "") -> MailingList:
    """Return the list called `name`, creating it if needed (flushes, does not commit)."""
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
    """Create or update subscribers by email and add them to a list; return the row count.

    A programmatic upsert: rows are trusted (no validation), statuses and
    suppressions are not consulted and no events are written. Keys other than
    subscriber fields are ignored. Does not commit.
    """
    merged: dict[str, dict[str, str]] = {}
    count = 0
    for raw in rows:
        count += 1
        values = {k: v for k, v in raw.items() if k in FIELDS and v}
        merged.setdefault(raw["email"].lower(), {}).update(values)
    ml = ensure_list(session=session, name=list_name) if list_name else None
    prepared = [ImportedSubscriber.of(values) for values in merged.values()]
    now = datetime.now(UTC)
    _apply(session.connection(), prepared, list_id=ml.id if ml else None, list_name=list_name,
           consent=Consent(source=consent_source, by="", at=now), resubscribe=False,
           respect_blocks=False, write_events=False, dry_run=False)
    session.flush()
    return count


# -- import ---------------------------------------------------------------------


def apply_import(
    *, session: Session, parsed: ParsedFile, list_name: str | None, consent: Consent,
    resubscribe: bool = False, dry_run: bool = False,
) -> ImportReport:
    """Upsert the valid rows of a parsed file; return the report. Does not commit.

    Subscribers who unsubscribed (from everything or from this list), bounced,
    complained or are in Suppression are skipped unless `resubscribe`. With
    `dry_run` nothing is written but the counts are those a real run would
    give. Raises NoSuchListError if `list_name` does not exist.
    """
    list_id: int | None = None
    if list_name is not None:
        list_id = session.execute(select(ML.c.id).where(ML.c.name == list_name)).scalar()
        if list_id is None:
            raise NoSuchListError(_(
                "リスト「{name}」はありません（`mailer lists create {name}` で作れます）")
                .format(name=list_name))
    counts, skipped, warnings = _apply(
        session.connection(), parsed.rows, list_id=list_id, list_name=list_name,
        consent=consent, resubscribe=resubscribe, respect_blocks=True, write_events=True,
        dry_run=dry_run)
    counts.rejected = len(parsed.rejected)
    return ImportReport(file=parsed.name, encoding=parsed.encoding, list_name=list_name,
                        dry_run=dry_run, counts=counts, rejected=list(parsed.rejected),
                        skipped=skipped, warnings=[*parsed.warnings, *warnings])


@dataclass
class _Plan:
    new: list[dict[str, Any]] = field(default_factory=list)
    new_keys: list[str] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    members: list[int | str] = field(default_factory=list)  # subscriber id, or key if new
    unsuppress: list[int] = field(default_factory=list)
    events: list[tuple[int | str, str, str]] = field(default_factory=list)  # (id|key, kind, detail)


def _apply(
    conn: Connection, rows: Sequence[ImportedSubscriber], *, list_id: int | None,
    list_name: str | None, consent: Consent, resubscribe: bool, respect_blocks: bool,
    write_events: bool, dry_run: bool,
) -> tuple[ImportCounts, list[Skipped], list[str]]:
    emails = [row.email for row in rows]
    existing = _existing(conn, emails)
    suppressed = _suppressed(conn, emails) if respect_blocks else {}
    members: set[int] = set()
    left_list: set[int] = set()
    if list_id is not None:
        members = set(conn.execute(select(MEM.c.subscriber_id).where(MEM.c.list_id == list_id))
                      .scalars())
        if respect_blocks and list_name is not None:
            candidates = [r.id for r in existing.values() if r.id not in members]
            left_list = _left_list(conn, candidates, list_name)

    counts, skipped, plan, warnings = ImportCounts(), [], _Plan(), []
    by = _("{name} が取り込み").format(name=consent.by) if consent.by else ""
    where = list_name or ALL_LISTS
    for row in rows:
        old = existing.get(row.key)
        block = ""
        if respect_blocks:
            if old is not None and old.status != SubscriberStatus.ACTIVE:
                block = _("状態が「{status}」です").format(
                    status=SUBSCRIBER_LABELS[SubscriberStatus(old.status)])
            elif row.key in suppressed:
                block = _("配信抑止中（{reason}）").format(
                    reason=suppressed[row.key][1] or _("理由の記録なし"))
            elif old is not None and old.id in left_list:
                block = _("リスト「{name}」の配信を停止しています").format(name=list_name)
        if block and not resubscribe:
            counts.skipped_suppressed += 1
            skipped.append(Skipped(row.line, row.email, block))
            continue
        if row.key in suppressed:
            plan.unsuppress.append(suppressed[row.key][0])
        ref: int | str
        if old is None:
            ref = row.key
            plan.new.append(_new_params(row, consent))
            plan.new_keys.append(row.key)
            plan.events.append((ref, "imported", "; ".join(
                x for x in (by, _("リスト {name}").format(name=list_name) if list_name else "")
                if x)))
            counts.created += 1
        else:
            ref = old.id
            changes = [f"{name}: {getattr(old, name)} -> {value}"
                       for name, value in row.values().items()
                       if name != "email" and getattr(old, name) != value]
            if block and old.status != SubscriberStatus.ACTIVE:
                changes.append(f"status: {SubscriberStatus(old.status).value} -> active")
            if block and row.key in suppressed:
                changes.append(_("配信抑止を解除"))
            joins = list_id is not None and old.id not in members
            if joins:
                changes.append(_("リストに追加：{name}").format(name=list_name))
            if changes:
                plan.updates.append(_update_params(old, row, consent if block else None))
                plan.events.append((ref, "updated", "; ".join([*changes, by] if by else changes)))
                counts.updated += 1
            else:
                counts.unchanged += 1
        if block:
            plan.events.append((ref, "resubscribed", where))
            counts.resubscribed += 1
        if list_id is not None and (old is None or old.id not in members):
            plan.members.append(ref)
            counts.added_to_list += 1
        warning = _charset_warning(row, old)
        if warning:
            warnings.append(warning)
    if not dry_run:
        _write(conn, plan, list_id=list_id, consent=consent, write_events=write_events)
    return counts, skipped, warnings


def _charset_warning(row: ImportedSubscriber, old: Any) -> str:
    """The line's warning when the reader, as stored after this row, asked for
    ISO-2022-JP and their name cannot be carried in it ("" otherwise)."""
    merged = defaults() if old is None else {n: getattr(old, n) for n in DATA_FIELDS}
    merged.update(row.values())
    name, honorific = merged["name"], merged["honorific"]
    if merged["charset"].lower() != "iso-2022-jp":
        return ""
    # Imported here: the check uses the renderer, which an import without
    # ISO-2022-JP readers (and `mailer lists show`) need not load.
    from mailer.services.iso2022jp_readers import import_warning, unsendable_chars

    chars = unsendable_chars(name=name, honorific=honorific, charset=merged["charset"])
    if not chars:
        return ""
    return import_warning(line=row.line, email=row.email, name=name, honorific=honorific,
                          chars=chars)


def _find_by_email(
    conn: Connection, table: Any, columns: Sequence[Any], emails: Sequence[str]
) -> dict[str, Any]:
    """Return key (lower-cased address) -> row of `table` for the given addresses.

    Two steps, so that the unique index on email does the work: exact matches
    (addresses are stored normalised, so nearly every match is exact), then a
    case-insensitive match for the rest. lower(email) cannot use the index: for
    a few addresses that is one query; for many, one streamed pass over the
    table beats a scan per chunk.
    """
    found: dict[str, Any] = {}
    order = table.c.id
    for chunk in _chunks(sorted(set(emails)), LOOKUP_CHUNK):
        stmt = select(*columns).where(_among(table.c.email, chunk)).order_by(order)
        for row in conn.execute(stmt):
            found.setdefault(row.email.lower(), row)
    rest = {e.lower() for e in emails} - found.keys()
    if not rest:
        return found
    if len(rest) <= LOOKUP_CHUNK:
        stmt = select(*columns).where(_among(func.lower(table.c.email), sorted(rest)))
    else:
        stmt = select(*columns)
    # Statement option, not Connection.execution_options(): that one sticks to the connection.
    result = conn.execute(stmt.order_by(order).execution_options(yield_per=LOOKUP_CHUNK))
    for row in result:
        key = row.email.lower()
        if key in rest:
            found.setdefault(key, row)
    return found


def _existing(conn: Connection, emails: Sequence[str]) -> dict[str, Any]:
    """Return key -> subscriber row for the addresses that exist."""
    cols = [SUB.c.id, SUB.c.email, SUB.c.status, SUB.c.consent_source, SUB.c.consent_by,
            SUB.c.consent_at, *(SUB.c[name] for name in DATA_FIELDS)]
    return _find_by_email(conn, SUB, cols, emails)


def _suppressed(conn: Connection, emails: Sequence[str]) -> dict[str, tuple[int, str]]:
    # By hash of the normalised address: any case, and erased addresses too.
    return suppressed_among(conn, emails)


def _left_list(conn: Connection, subscriber_ids: Sequence[int], list_name: str) -> set[int]:
    """Return the subscribers whose latest event about this list is an unsubscribe."""
    latest: dict[int, str] = {}
    for chunk in _chunks(sorted(subscriber_ids), LOOKUP_CHUNK):
        stmt = select(EVT.c.subscriber_id, EVT.c.kind).where(
            _among(EVT.c.subscriber_id, chunk), EVT.c.kind.in_(["unsubscribed", "resubscribed"]),
            EVT.c.detail == list_name,
        ).order_by(EVT.c.id)
        for sid, kind in conn.execute(stmt):
            latest[sid] = kind
    return {sid for sid, kind in latest.items() if kind == "unsubscribed"}


def _new_params(row: ImportedSubscriber, consent: Consent) -> dict[str, Any]:
    params: dict[str, Any] = {name: value for name, value in defaults().items()
                              if name in FIELDS}
    params.update(row.values())
    params.update(status=SubscriberStatus.ACTIVE, consent_source=consent.source,
                  consent_by=consent.by, consent_at=consent.at, created_at=consent.at,
                  updated_at=consent.at)
    return params


def _update_params(old: Any, row: ImportedSubscriber, consent: Consent | None) -> dict[str, Any]:
    """Bind values for one changed subscriber: every data field, merged."""
    params = {f"b_{name}": getattr(old, name) for name in DATA_FIELDS}
    params.update({f"b_{name}": value for name, value in row.values().items() if name != "email"})
    # the search key follows the merged fields (an UPDATE has no column default)
    params["b_search_key"] = subscriber_search_key(
        {name: params.get(f"b_{name}", getattr(old, name)) for name in SEARCH_KEY_FIELDS})
    params.update(
        b_id=old.id,
        b_status=SubscriberStatus.ACTIVE if consent else SubscriberStatus(old.status),
        b_consent_source=consent.source if consent else old.consent_source,
        b_consent_by=consent.by if consent else old.consent_by,
        b_consent_at=consent.at if consent else old.consent_at,
    )
    return params


def _write(
    conn: Connection, plan: _Plan, *, list_id: int | None, consent: Consent, write_events: bool
) -> None:
    ids: dict[str, int] = {}
    # executemany with no RETURNING: sqlite3 and psycopg (pipeline mode) run
    # these fastest; the new ids are then read back through the email index.
    for chunk in _chunks(plan.new, INSERT_CHUNK):
        conn.execute(insert(SUB), list(chunk))
        emails = [params["email"] for params in chunk]
        query = select(SUB.c.id, SUB.c.email).where(_among(SUB.c.email, emails))
        ids.update((email.lower(), sid) for sid, email in conn.execute(query))
    if plan.updates:
        stmt = update(SUB).where(SUB.c.id == bindparam("b_id")).values(
            {**{name: bindparam(f"b_{name}") for name in (
                *DATA_FIELDS, "search_key", "status", "consent_source", "consent_by",
                "consent_at")},
             "updated_at": consent.at},
        )
        # executemany: one UPDATE statement, the changed rows only.
        conn.execute(stmt, plan.updates)
    for id_chunk in _chunks(plan.unsuppress, LOOKUP_CHUNK):
        conn.execute(delete(SUP).where(_among(SUP.c.id, id_chunk)))

    def sid(ref: int | str) -> int:
        return ids[ref] if isinstance(ref, str) else ref

    if list_id is not None:
        rows = [{"list_id": list_id, "subscriber_id": sid(ref), "created_at": consent.at}
                for ref in plan.members]
        for chunk in _chunks(rows, INSERT_CHUNK):
            conn.execute(insert(MEM), list(chunk))
    if write_events:
        events = [{"subscriber_id": sid(ref), "kind": kind, "detail": detail,
                   "source": consent.source, "delivery_id": None, "created_at": consent.at}
                  for ref, kind, detail in plan.events]
        for chunk in _chunks(events, INSERT_CHUNK):
            conn.execute(insert(EVT), list(chunk))


# -- lists ------------------------------------------------------------------------


@dataclass(frozen=True)
class ListSummary:
    name: str
    title: str
    visibility: str
    by_status: dict[SubscriberStatus, int]
    suppressed: int  # members whose address is in Suppression (never mailed)

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


def create_list(*, session: Session, name: str, title: str = "",
                visibility: ListVisibility = ListVisibility.INTERNAL) -> MailingList:
    """Create a list; raise ListExistsError if the name is taken. Does not commit."""
    name = name.strip()
    if not name:
        raise ValueError(_("リストの名前がありません"))
    exists = session.execute(select(ML.c.id).where(ML.c.name == name)).scalar()
    if exists is not None:
        raise ListExistsError(_("リスト「{name}」はもうあります").format(name=name))
    ml = MailingList(name=name, title=title or name, visibility=visibility)
    session.add(ml)
    session.flush()
    return ml


def set_list_visibility(*, session: Session, name: str, visibility: ListVisibility) -> bool:
    """Make the list `name` public or internal; return whether it changed.

    Raises ServiceError(NOT_FOUND) for an unknown list. Does not commit.
    """
    ml = session.execute(select(MailingList).where(MailingList.name == name)).scalars().first()  # type: ignore[arg-type]
    if ml is None:
        raise ServiceError(_("リスト「{name}」はありません").format(name=name),
                           kind=ErrorKind.NOT_FOUND,
                           field="list")
    if ml.visibility == visibility:
        return False
    ml.visibility = visibility
    session.add(ml)
    session.flush()
    return True


def list_summaries(*, session: Session) -> list[ListSummary]:
    """Return every list with its member counts by subscriber status, by name."""
    lists = session.execute(select(ML.c.id, ML.c.name, ML.c.title, ML.c.visibility)
                            .order_by(ML.c.name)).all()
    counts: dict[int, dict[SubscriberStatus, int]] = {
        lid: dict.fromkeys(SubscriberStatus, 0) for lid, _, _, _ in lists}
    stmt = (select(MEM.c.list_id, SUB.c.status, func.count())
            .join(SUB, SUB.c.id == MEM.c.subscriber_id).group_by(MEM.c.list_id, SUB.c.status))
    for lid, status, n in session.execute(stmt):
        counts[lid][SubscriberStatus(status)] = n
    suppressed: dict[int, int] = dict(session.execute(  # type: ignore[arg-type]
        select(MEM.c.list_id, func.count())
        .join(SUB, SUB.c.id == MEM.c.subscriber_id)
        .join(SUP, SUP.c.email_hash == SUB.c.email_hash)  # any case, or erased
        .group_by(MEM.c.list_id)).all())
    return [ListSummary(name=name, title=title, visibility=visibility, by_status=counts[lid],
                        suppressed=suppressed.get(lid, 0))
            for lid, name, title, visibility in lists]
