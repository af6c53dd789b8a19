"""Read models: the listings the admin pages, the API and the CLI show (no writes).

Long listings page by key (`id > after ORDER BY id LIMIT n`), never by
offset, so the hundredth page costs what the first does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, Select, func, select

from mailer.i18n import _
from mailer.labels import ALL_LISTS, ALL_LISTS_LABEL, EVENT_LABELS, tokyo
from mailer.models import (
    Delivery,
    DeliveryStatus,
    Issue,
    MailingList,
    Membership,
    Part,
    Send,
    SendList,
    SendOverlap,
    SendStatus,
    Subscriber,
    SubscriberEvent,
    SubscriberStatus,
    Suppression,
)
from mailer.render.message import ISO2022JP
from mailer.search_text import fold
from mailer.services.iso2022jp_readers import PROBLEM, unsendable_chars
from mailer.services.subscriber_fields import FIELDS as SUBSCRIBER_FIELDS
from mailer.services.suppression import suppression_reason

SUB = Subscriber.__table__  # type: ignore[attr-defined]
MEM = Membership.__table__  # type: ignore[attr-defined]
ML = MailingList.__table__  # type: ignore[attr-defined]
SEND = Send.__table__  # type: ignore[attr-defined]
SL = SendList.__table__  # type: ignore[attr-defined]
PART = Part.__table__  # type: ignore[attr-defined]
ISSUE = Issue.__table__  # type: ignore[attr-defined]
D = Delivery.__table__  # type: ignore[attr-defined]
EVT = SubscriberEvent.__table__  # type: ignore[attr-defined]
SUP = Suppression.__table__  # type: ignore[attr-defined]

MAX_PAGE = 200


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# -- issues and parts --------------------------------------------------------

@dataclass(frozen=True)
class PartRow:
    id: int
    issue_id: int
    label: str
    position: int
    title: str
    subject: str
    scheduled_at: datetime | None
    published_at: datetime | None = None  # None: not public (services/publication.py)
    published_by: str = ""


@dataclass(frozen=True)
class IssueRow:
    id: int
    slug: str
    number: int
    title: str
    series: str
    updated_at: datetime
    parts: list[PartRow]


def _scheduled_at(document: str) -> datetime | None:
    # Read from the stored document, which keeps the offset the author wrote:
    # SQLite returns the column's value without one.
    try:
        value = json.loads(document).get("scheduled_at")
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except (ValueError, AttributeError):
        return None


def _part(r: Any) -> PartRow:
    published = r.published_at
    if published is not None and published.tzinfo is None:  # SQLite: naive UTC
        published = published.replace(tzinfo=UTC)
    return PartRow(id=r.id, issue_id=r.issue_id, label=r.label, position=r.position,
                   title=r.title, subject=r.subject, scheduled_at=_scheduled_at(r.document),
                   published_at=published, published_by=r.published_by)


def issues(engine: Engine) -> list[IssueRow]:
    """Return every issue, newest number first, with its parts in order."""
    with engine.connect() as conn:
        issue_rows = conn.execute(
            select(ISSUE.c.id, ISSUE.c.slug, ISSUE.c.number, ISSUE.c.title, ISSUE.c.series,
                   ISSUE.c.updated_at).order_by(ISSUE.c.number.desc(), ISSUE.c.id.desc())
        ).all()
        part_rows = conn.execute(
            select(PART.c.id, PART.c.issue_id, PART.c.label, PART.c.position, PART.c.title,
                   PART.c.subject, PART.c.document, PART.c.published_at, PART.c.published_by)
            .order_by(PART.c.issue_id, PART.c.position)
        ).all()
    by_issue: dict[int, list[PartRow]] = {}
    for r in part_rows:
        by_issue.setdefault(r.issue_id, []).append(_part(r))
    return [IssueRow(id=r.id, slug=r.slug, number=r.number, title=r.title, series=r.series,
                     updated_at=r.updated_at, parts=by_issue.get(r.id, [])) for r in issue_rows]


def part_row(engine: Engine, part_id: int) -> tuple[PartRow, IssueRow] | None:
    """Return the part and its issue (with no parts listed), or None."""
    with engine.connect() as conn:
        r = conn.execute(
            select(PART.c.id, PART.c.issue_id, PART.c.label, PART.c.position, PART.c.title,
                   PART.c.subject, PART.c.document, PART.c.published_at, PART.c.published_by)
            .where(PART.c.id == part_id)
        ).one_or_none()
        if r is None:
            return None
        i = conn.execute(
            select(ISSUE.c.id, ISSUE.c.slug, ISSUE.c.number, ISSUE.c.title, ISSUE.c.series,
                   ISSUE.c.updated_at).where(ISSUE.c.id == r.issue_id)
        ).one()
    return _part(r), IssueRow(id=i.id, slug=i.slug, number=i.number, title=i.title,
                              series=i.series, updated_at=i.updated_at, parts=[])


class PartState(StrEnum):
    """Where a part stands, from its sends (derived, not stored)."""

    UNSENT = "unsent"  # no send, or every send cancelled
    SCHEDULED = "scheduled"  # a send is waiting, running or paused
    SENT = "sent"  # a send has finished


@dataclass(frozen=True)
class PartListing:
    """One part as `mailer part list` shows it."""

    id: int
    issue_id: int
    issue_number: int
    issue_slug: str
    label: str
    title: str
    scheduled_at: datetime | None  # 予定: the issue's plan for this part
    state: PartState
    #: public on the archive (None: this database has no `published_at` column)
    published: bool | None


def part_state(statuses: Sequence[SendStatus]) -> PartState:
    """Return the part's state from its sends' statuses (sent wins over scheduled)."""
    if SendStatus.DONE in statuses:
        return PartState.SENT
    if any(s in (SendStatus.SCHEDULED, SendStatus.RUNNING, SendStatus.PAUSED) for s in statuses):
        return PartState.SCHEDULED
    return PartState.UNSENT


def part_listings(engine: Engine, *, issue: str | None = None) -> list[PartListing]:
    """Return every part (of one issue, by slug or number, if given), newest
    issue first and in order within it, with its state. Raises LookupError
    naming an issue that does not exist."""
    published_col = PART.c.get("published_at")  # added by a later migration
    columns = [PART.c.id, PART.c.issue_id, PART.c.label, PART.c.position, PART.c.title,
               PART.c.subject, PART.c.document, ISSUE.c.number, ISSUE.c.slug]
    if published_col is not None:
        columns.append(published_col.label("published_at"))
    query = select(*columns).join(ISSUE, ISSUE.c.id == PART.c.issue_id)
    key = (issue or "").strip()
    which = ISSUE.c.number == int(key) if key.isdigit() else ISSUE.c.slug == key
    if issue is not None:
        query = query.where(which)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(ISSUE.c.number.desc(), ISSUE.c.id.desc(),
                                           PART.c.position)).all()
        if issue is not None and not rows \
                and conn.execute(select(ISSUE.c.id).where(which)).first() is None:
            raise LookupError(_("号「{key}」はありません（番号かスラッグで指定してください）")
                              .format(key=key))
        statuses: dict[int, list[SendStatus]] = {}
        for pid, status in conn.execute(select(SEND.c.part_id, SEND.c.status)):
            statuses.setdefault(pid, []).append(SendStatus(status))
    return [PartListing(
        id=r.id, issue_id=r.issue_id, issue_number=r.number, issue_slug=r.slug, label=r.label,
        title=r.title, scheduled_at=_scheduled_at(r.document),
        state=part_state(statuses.get(r.id, [])),
        published=None if published_col is None else r.published_at is not None,
    ) for r in rows]


# -- lists -------------------------------------------------------------------

@dataclass(frozen=True)
class ListRow:
    id: int
    name: str
    title: str
    visibility: str  # "public": readers see and join it; "internal": members only
    active: int
    members: int


def lists(engine: Engine) -> list[ListRow]:
    """Return every list by name, with member counts (all and active)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                ML.c.id, ML.c.name, ML.c.title, ML.c.visibility,
                func.count(MEM.c.subscriber_id).label("members"),
                func.count(SUB.c.id).filter(
                    SUB.c.status == SubscriberStatus.ACTIVE.value).label("active"),
            )
            .select_from(ML.outerjoin(MEM, MEM.c.list_id == ML.c.id)
                         .outerjoin(SUB, SUB.c.id == MEM.c.subscriber_id))
            .group_by(ML.c.id, ML.c.name, ML.c.title, ML.c.visibility)
            .order_by(ML.c.name)
        ).all()
    return [ListRow(id=r.id, name=r.name, title=r.title, visibility=r.visibility,
                    active=int(r.active),
                    members=int(r.members)) for r in rows]


# -- sends -------------------------------------------------------------------

@dataclass(frozen=True)
class SendRow:
    id: int
    part_id: int
    part_label: str
    part_title: str
    issue_title: str
    issue_number: int
    status: SendStatus
    scheduled_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    recipients: int
    created_by: str
    approved_by: str
    note: str
    lists: list[str]
    created_by_user_id: int | None = None
    overlap: SendOverlap = SendOverlap.SKIP  # what it does with those who already had the part
    failed: int = 0  # deliveries now `failed` (what resend-failed would queue again)


def sends(
    engine: Engine, *, statuses: Sequence[SendStatus] | None = None, part_id: int | None = None,
    newest_first: bool = False, limit: int = 50, after: int | None = None,
) -> list[SendRow]:
    """Return sends with their part, issue and list names.

    Ordered by scheduled time (newest first if asked), or by id when paging
    with `after` (keyset).
    """
    query = (
        select(SEND, PART.c.label.label("part_label"), PART.c.title.label("part_title"),
               ISSUE.c.title.label("issue_title"), ISSUE.c.number.label("issue_number"))
        .join(PART, PART.c.id == SEND.c.part_id).join(ISSUE, ISSUE.c.id == PART.c.issue_id)
    )
    if statuses is not None:
        query = query.where(SEND.c.status.in_([s.value for s in statuses]))
    if part_id is not None:
        query = query.where(SEND.c.part_id == part_id)
    if after is not None:
        query = query.where(SEND.c.id > after).order_by(SEND.c.id)
    elif newest_first:
        query = query.order_by(SEND.c.scheduled_at.desc(), SEND.c.id.desc())
    else:
        query = query.order_by(SEND.c.scheduled_at, SEND.c.id)
    with engine.connect() as conn:
        rows = conn.execute(query.limit(limit)).all()
        names: dict[int, list[str]] = {}
        if rows:
            for sid, name in conn.execute(
                select(SL.c.send_id, ML.c.name).join(ML, ML.c.id == SL.c.list_id)
                .where(SL.c.send_id.in_([r.id for r in rows])).order_by(ML.c.name)
            ).all():
                names.setdefault(sid, []).append(name)
        failed: dict[int, int] = {}
        if rows:
            failed = {sid: int(n) for sid, n in conn.execute(
                select(D.c.send_id, func.count())
                .where(D.c.send_id.in_([r.id for r in rows]),
                       D.c.status == DeliveryStatus.FAILED.value)
                .group_by(D.c.send_id)
            ).all()}
    return [
        SendRow(id=r.id, part_id=r.part_id, part_label=r.part_label, part_title=r.part_title,
                issue_title=r.issue_title, issue_number=r.issue_number,
                status=SendStatus(r.status), scheduled_at=r.scheduled_at,
                started_at=r.started_at, finished_at=r.finished_at, recipients=r.recipients,
                created_by=r.created_by, approved_by=r.approved_by, note=r.note,
                lists=names.get(r.id, []), created_by_user_id=r.created_by_user_id,
                overlap=SendOverlap(r.overlap), failed=failed.get(r.id, 0))
        for r in rows
    ]


def send_row(engine: Engine, send_id: int) -> SendRow | None:
    with engine.connect() as conn:
        exists = conn.execute(select(SEND.c.id).where(SEND.c.id == send_id)).scalar()
    if exists is None:
        return None
    return sends(engine, after=send_id - 1, limit=1)[0]


# -- deliveries ----------------------------------------------------------------

@dataclass(frozen=True)
class DeliveryRow:
    id: int
    subscriber_id: int
    email: str
    name: str
    organisation: str
    organisation_kind: str
    status: DeliveryStatus
    attempts: int
    last_error: str
    sent_at: datetime | None
    updated_at: datetime


def delivery_query() -> Select[Any]:
    """The columns of a DeliveryRow: the ledger row and its subscriber."""
    return (
        select(D.c.id, D.c.subscriber_id, D.c.email, D.c.status, D.c.attempts, D.c.last_error,
               D.c.sent_at, D.c.updated_at, SUB.c.name, SUB.c.organisation,
               SUB.c.organisation_kind)
        .join(SUB, SUB.c.id == D.c.subscriber_id)
    )


def shown_error(status: DeliveryStatus, error: str) -> str:
    """Return the error a listing shows for a delivery: none once it is sent.

    The ledger clears the error when a row is sent; rows sent before it did
    still hold why an earlier try was deferred or handed back ("send
    stopped", "time budget"), which is history, not an error.
    """
    return "" if status is DeliveryStatus.SENT else error


def delivery_row(r: Any) -> DeliveryRow:
    status = DeliveryStatus(r.status)
    return DeliveryRow(
        id=r.id, subscriber_id=r.subscriber_id, email=r.email, name=r.name,
        organisation=r.organisation, organisation_kind=r.organisation_kind,
        status=status, attempts=r.attempts, last_error=shown_error(status, r.last_error),
        sent_at=r.sent_at, updated_at=r.updated_at)


def deliveries(
    engine: Engine, send_id: int, *, after: int | None = None, limit: int = 100,
    status: DeliveryStatus | None = None,
) -> list[DeliveryRow]:
    """Return a page of a send's deliveries by id (keyset: ids above `after`)."""
    query = delivery_query().where(D.c.send_id == send_id)
    if status is not None:
        query = query.where(D.c.status == status.value)
    if after is not None:
        query = query.where(D.c.id > after)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(D.c.id).limit(min(limit, MAX_PAGE + 1))).all()
    return [delivery_row(r) for r in rows]


# -- subscribers ---------------------------------------------------------------

@dataclass(frozen=True)
class SubscriberFilter:
    q: str = ""
    status: SubscriberStatus | None = None
    kind: str = ""
    list_id: int | None = None
    #: "iso2022jp": only readers whose name their ISO-2022-JP cannot carry
    problem: str = ""


@dataclass(frozen=True)
class SubscriberListing:
    """One subscriber as listings show it: the id, every declared field
    (mailer.services.subscriber_fields; `row.name` reads one) and its times."""

    id: int
    fields: Mapping[str, Any]  # field name -> stored value (the status as SubscriberStatus)
    created_at: datetime
    updated_at: datetime

    def __getattr__(self, name: str) -> Any:
        # Only declared fields: anything else (copy's __deepcopy__ probes) is absent.
        fields: Mapping[str, Any] = self.__dict__.get("fields", {})
        if name in fields:
            return fields[name]
        raise AttributeError(name)

    def as_dict(self) -> dict[str, Any]:
        """Return id, the fields and the times as one dict (the API's SubscriberOut)."""
        return {"id": self.id, **self.fields, "created_at": self.created_at,
                "updated_at": self.updated_at}


#: the columns a subscriber listing reads
SUBSCRIBER_COLUMNS = (SUB.c.id, *(SUB.c[f.name] for f in SUBSCRIBER_FIELDS), SUB.c.created_at,
                      SUB.c.updated_at)


def _subscriber(r: Any) -> SubscriberListing:
    return SubscriberListing(
        id=r.id, fields={f.name: f.value_type(getattr(r, f.name)) for f in SUBSCRIBER_FIELDS},
        created_at=r.created_at, updated_at=r.updated_at)


def _subscriber_filter(query: Select[Any], filt: SubscriberFilter) -> Select[Any]:
    """`query` narrowed to the subscribers the filter matches.

    The text is folded as stored keys are (mailer.search_text: 山崎 finds
    山﨑, 高橋 finds 髙橋, たかはし the reading タカハシ, any width or case) and
    looked for in `subscriber.search_key` with LIKE (% and _ escaped).
    """
    folded = fold(filt.q)
    if folded:
        query = query.where(SUB.c.search_key.like(_like(folded), escape="\\"))
    if filt.status is not None:
        query = query.where(SUB.c.status == filt.status.value)
    if filt.kind:
        query = query.where(SUB.c.organisation_kind == filt.kind)
    if filt.list_id is not None:
        query = query.where(
            select(MEM.c.subscriber_id)
            .where(MEM.c.list_id == filt.list_id, MEM.c.subscriber_id == SUB.c.id).exists()
        )
    return query


def subscribers(
    engine: Engine, filt: SubscriberFilter, *, after: int | None = None, limit: int = 50,
) -> tuple[list[SubscriberListing], int | None]:
    """Return a page of subscribers by id after `after`, and the `after` of the
    next page (None on the last). The list filter is an EXISTS on the
    membership's (list_id, subscriber_id) key; the scan stops once the page is full."""
    limit = max(1, min(limit, MAX_PAGE))
    query = _subscriber_filter(select(*SUBSCRIBER_COLUMNS), filt)
    if filt.problem == PROBLEM:
        return _unsendable_page(engine, query, after=after, limit=limit)
    if after is not None:
        query = query.where(SUB.c.id > after)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(SUB.c.id).limit(limit + 1)).all()
    page = [_subscriber(r) for r in rows[:limit]]
    return page, (page[-1].id if len(rows) > limit else None)


def count_subscribers(engine: Engine, filt: SubscriberFilter) -> int:
    """Return how many subscribers the filter matches (all pages: 「該当 N 名」)."""
    if filt.problem == PROBLEM:  # tested by the codec, row by row (few candidates)
        found, after = 0, None
        while True:
            page, after = _unsendable_page(
                engine, _subscriber_filter(select(*SUBSCRIBER_COLUMNS), filt),
                after=after, limit=MAX_PAGE)
            found += len(page)
            if after is None:
                return found
    query = _subscriber_filter(select(func.count()).select_from(SUB), filt)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def _unsendable_page(engine: Engine, query: Any, *, after: int | None,
                     limit: int) -> tuple[list[SubscriberListing], int | None]:
    """A page of the ISO-2022-JP readers whose name it cannot carry. The test
    is Python's codec (`unsendable_chars`), so the candidates (ISO-2022-JP
    readers with a name: few) are read in keyset chunks and tested here."""
    query = query.where(SUB.c.charset == ISO2022JP, SUB.c.name != "")
    found: list[Any] = []
    with engine.connect() as conn:
        while len(found) <= limit:
            chunk = query.where(SUB.c.id > (after or 0)).order_by(SUB.c.id).limit(MAX_PAGE)
            rows = conn.execute(chunk).all()
            found += [r for r in rows if unsendable_chars(
                name=r.name, honorific=r.honorific, charset=r.charset)]
            if len(rows) < MAX_PAGE:
                break
            after = rows[-1].id
    page = [_subscriber(r) for r in found[:limit]]
    return page, (page[-1].id if len(found) > limit else None)


def organisation_kinds(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [k for k in conn.execute(
            select(SUB.c.organisation_kind).distinct().order_by(SUB.c.organisation_kind)
        ).scalars() if k]


@dataclass(frozen=True)
class EventRow:
    id: int
    kind: str
    detail: str
    source: str
    created_at: datetime

    @property
    def kind_label(self) -> str:
        """What staff read for the kind (「取り込み」); an unknown kind as stored."""
        return EVENT_LABELS.get(self.kind, self.kind)

    @property
    def detail_shown(self) -> str:
        """The memo as staff read it: "all lists" (a change that names no list)
        in the current language, anything else as it was written."""
        return _(ALL_LISTS_LABEL) if self.detail == ALL_LISTS else self.detail


@dataclass(frozen=True)
class SubscriberDetail:
    subscriber: SubscriberListing
    roles: str
    consent: str
    lists: list[str]
    events: list[EventRow]
    deliveries: list[tuple[int, int, str, DeliveryStatus, str, datetime | None]]
    suppressed: str | None  # the reason, if the address is suppressed


def subscriber_detail(engine: Engine, subscriber_id: int) -> SubscriberDetail | None:
    """Return a subscriber with lists, events (newest first) and last 50 deliveries."""
    with engine.connect() as conn:
        r = conn.execute(select(SUB).where(SUB.c.id == subscriber_id)).one_or_none()
        if r is None:
            return None
        names = list(conn.execute(
            select(ML.c.name).join(MEM, MEM.c.list_id == ML.c.id)
            .where(MEM.c.subscriber_id == subscriber_id).order_by(ML.c.name)).scalars())
        events = [EventRow(id=e.id, kind=e.kind, detail=e.detail, source=e.source,
                           created_at=e.created_at) for e in conn.execute(
            select(EVT).where(EVT.c.subscriber_id == subscriber_id)
            .order_by(EVT.c.id.desc()).limit(200)).all()]
        dels = [(d.send_id, d.part_id, d.part_title, DeliveryStatus(d.status),
                 shown_error(DeliveryStatus(d.status), d.last_error), d.sent_at)
                for d in conn.execute(
            select(D.c.send_id, D.c.part_id, PART.c.title.label("part_title"), D.c.status,
                   D.c.last_error, D.c.sent_at).join(PART, PART.c.id == D.c.part_id)
            .where(D.c.subscriber_id == subscriber_id).order_by(D.c.id.desc()).limit(50)).all()]
        suppressed = suppression_reason(conn, r.email)  # any case, or erased
    # the time as Japan wall time, like every other time staff see
    consent = " / ".join(x for x in (r.consent_source, r.consent_by,
                                      tokyo(r.consent_at) if r.consent_at else "") if x)
    return SubscriberDetail(subscriber=_subscriber(r), roles=r.roles, consent=consent,
                            lists=names, events=events, deliveries=dels, suppressed=suppressed)


@dataclass(frozen=True)
class SuppressionRow:
    id: int
    email: str
    reason: str
    created_at: datetime


def suppressions(
    engine: Engine, *, q: str = "", after: int | None = None, limit: int = 100,
) -> tuple[list[SuppressionRow], int | None]:
    """Return a keyset page of the suppression list and the next `after`."""
    limit = max(1, min(limit, MAX_PAGE))
    query = select(SUP.c.id, SUP.c.email, SUP.c.reason, SUP.c.created_at)
    if q.strip():
        query = query.where(func.lower(SUP.c.email).like(_like(q.strip().lower()), escape="\\"))
    if after is not None:
        query = query.where(SUP.c.id > after)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(SUP.c.id).limit(limit + 1)).all()
    page = [SuppressionRow(id=r.id, email=r.email, reason=r.reason, created_at=r.created_at)
            for r in rows[:limit]]
    return page, (page[-1].id if len(rows) > limit else None)
