"""A send's report by municipality: one table of its deliveries, in the
national local-government code order (mailer.municipalities), sortable and
filterable; the CSV gives the same rows in the same order.

Read model only. The order is computed in SQL (a rank per organisation name,
found once per report among the send's few distinct names), so the CSV can
page through a large send by key, `(sort keys…, id) > (last row's…)`,
without holding it in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, case, func, literal, select, tuple_

from mailer.labels import DELIVERY_LABELS, tokyo
from mailer.models import DeliveryStatus
from mailer.municipalities import code_order, find
from mailer.services.exporter import neutralise
from mailer.services.listings import SUB, D, DeliveryRow, delivery_query, delivery_row

#: the page lists rows one by one up to this many; the CSV has them all
REPORT_ROW_LIMIT = 5000
CSV_PAGE = 2000
#: what the page and the CSV call a subscriber with no organisation
NO_ORGANISATION = "（所属なし）"

#: "failures first": the states that need someone's attention lead
STATUS_RANK = {s: i for i, s in enumerate((
    DeliveryStatus.FAILED, DeliveryStatus.UNKNOWN, DeliveryStatus.DEFERRED, DeliveryStatus.SKIPPED,
    DeliveryStatus.CANCELLED, DeliveryStatus.PENDING, DeliveryStatus.SENDING,
    DeliveryStatus.SENT))}


class ReportSort(StrEnum):
    """How the report's rows are ordered (`?sort=`)."""

    CODE = "code"  # by municipality (local-government code), then name
    FAILURES = "failures"  # failed, deferred, … sent; then by municipality
    NAME = "name"  # by the subscriber's name
    ATTEMPTS = "attempts"  # most attempts first


SORT_LABELS = {
    ReportSort.CODE: "自治体（団体コード順）",
    ReportSort.FAILURES: "失敗を先に",
    ReportSort.NAME: "氏名",
    ReportSort.ATTEMPTS: "試行回数の多い順",
}


@dataclass(frozen=True)
class ReportQuery:
    """The rows asked for: an order, and optionally one municipality (as the
    report names it: see `Group.name`) and one state."""

    sort: ReportSort = ReportSort.CODE
    municipality: str = ""
    status: DeliveryStatus | None = None


@dataclass(frozen=True)
class Group:
    """One municipality of the send, with its counts per state."""

    name: str  # the listed name for a known municipality, else as stored; NO_ORGANISATION
    code: str  # "" when not a Tokyo municipality
    kind: str
    counts: dict[DeliveryStatus, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def failed(self) -> int:
        return self.counts[DeliveryStatus.FAILED]

    @property
    def unknown(self) -> int:
        """Messages whose outcome SMTP left unknowable (結果不明（SMTP 応答なし）)."""
        return self.counts[DeliveryStatus.UNKNOWN]


@dataclass(frozen=True)
class ReportRow:
    delivery: DeliveryRow
    municipality: str  # as Group.name
    code: str
    kind: str  # the listed kind of a known municipality, else the subscriber's


@dataclass(frozen=True)
class SendReport:
    query: ReportQuery
    groups: list[Group]  # every municipality of the send, in code order
    rows: list[ReportRow]  # the rows asked for, at most REPORT_ROW_LIMIT
    matching: int  # how many rows the query matches

    @property
    def complete(self) -> bool:
        """Whether every matching row is in `rows`."""
        return len(self.rows) >= self.matching


class _Order:
    """The organisations of one send and what the report makes of them."""

    def __init__(self, organisations: list[str]) -> None:
        self.names = code_order(organisations)  # stored names, in report order
        self.rank = {name: i for i, name in enumerate(self.names)}
        #: stored name -> (report name, code, kind); the kind "" where not known
        self.shown: dict[str, tuple[str, str, str]] = {}
        for name in self.names:
            m = find(name)
            self.shown[name] = (m.name, m.code, m.kind) if m else (name or NO_ORGANISATION, "", "")

    def rank_of(self) -> ColumnElement[Any]:
        """The SQL rank of a row's organisation (its place in report order)."""
        if not self.rank:
            return literal(0)
        return case(self.rank, value=SUB.c.organisation, else_=len(self.rank))

    def stored_names(self, shown: str) -> list[str]:
        """The stored organisation names the report shows as `shown`."""
        return [n for n, (s, _code, _kind) in self.shown.items() if s == shown]


def _status_rank() -> ColumnElement[Any]:
    return case({s.value: r for s, r in STATUS_RANK.items()}, value=D.c.status,
                else_=len(STATUS_RANK))


def _sort_keys(order: _Order, sort: ReportSort) -> list[ColumnElement[Any]]:
    """The ORDER BY of a sort, ending in the row id (unique, for paging)."""
    rank, status, name = order.rank_of(), _status_rank(), SUB.c.name
    keys = {
        ReportSort.CODE: [rank, status, name],
        ReportSort.FAILURES: [status, rank, name],
        ReportSort.NAME: [name, rank],
        ReportSort.ATTEMPTS: [literal(0) - D.c.attempts, rank, name],
    }[sort]
    return [*keys, D.c.id]


def _load_order(conn: Connection, send_id: int) -> tuple[_Order, list[Any]]:
    counts = conn.execute(
        select(SUB.c.organisation, SUB.c.organisation_kind, D.c.status, func.count())
        .join(SUB, SUB.c.id == D.c.subscriber_id).where(D.c.send_id == send_id)
        .group_by(SUB.c.organisation, SUB.c.organisation_kind, D.c.status)
    ).all()
    return _Order([r[0] for r in counts]), list(counts)


def _groups(order: _Order, counts: list[Any]) -> list[Group]:
    stored_kind = {org: kind for org, kind, _status, _n in counts if kind}
    by_name: dict[str, Group] = {}
    for stored in order.names:  # report order
        shown, code, kind = order.shown[stored]
        by_name.setdefault(shown, Group(shown, code, kind or stored_kind.get(stored, ""),
                                        dict.fromkeys(DeliveryStatus, 0)))
    for org, _kind, status, n in counts:
        by_name[order.shown[org][0]].counts[DeliveryStatus(status)] += int(n)
    return list(by_name.values())


def _filtered(send_id: int, order: _Order, q: ReportQuery) -> Any:
    query = delivery_query().where(D.c.send_id == send_id)
    if q.municipality:
        query = query.where(SUB.c.organisation.in_(order.stored_names(q.municipality)))
    if q.status is not None:
        query = query.where(D.c.status == q.status.value)
    return query


def _row(order: _Order, r: Any) -> ReportRow:
    shown, code, kind = order.shown.get(r.organisation,
                                        (r.organisation or NO_ORGANISATION, "", ""))
    return ReportRow(delivery_row(r), shown, code, kind or r.organisation_kind)


def send_report(engine: Engine, send_id: int, query: ReportQuery | None = None, *,
                limit: int = REPORT_ROW_LIMIT) -> SendReport:
    """Return the send's municipalities (code order, with counts) and its
    deliveries as asked: filtered, sorted, at most `limit` rows (the CSV has
    them all)."""
    q = query or ReportQuery()
    with engine.connect() as conn:
        order, counts = _load_order(conn, send_id)
        filtered = _filtered(send_id, order, q)
        matching = int(conn.execute(
            select(func.count()).select_from(filtered.subquery())).scalar_one())
        rows = conn.execute(filtered.order_by(*_sort_keys(order, q.sort)).limit(limit)).all()
    return SendReport(query=q, groups=_groups(order, counts),
                      rows=[_row(order, r) for r in rows], matching=matching)


REPORT_HEADER = ["自治体", "区分", "氏名", "メールアドレス", "状態", "試行回数", "エラー",
                 "送信日時（東京）", "団体コード"]


def report_csv_rows(engine: Engine, send_id: int,
                    query: ReportQuery | None = None) -> Iterator[list[str]]:
    """Yield the header, then one neutralised row per delivery, in the
    report's order and filter. Reads in keyset pages: a large send never
    sits in memory whole."""
    q = query or ReportQuery()
    yield REPORT_HEADER
    with engine.connect() as conn:
        order, _counts = _load_order(conn, send_id)
    keys = _sort_keys(order, q.sort)
    # the sort keys as labelled columns, so the last row of a page gives the next bound
    labelled = [k.label(f"k{i}") for i, k in enumerate(keys)]
    base = _filtered(send_id, order, q).add_columns(*labelled)
    after: tuple[Any, ...] | None = None
    while True:
        page = base if after is None else base.where(tuple_(*keys) > tuple_(*after))
        with engine.connect() as conn:
            rows = conn.execute(page.order_by(*keys).limit(CSV_PAGE)).all()
        if not rows:
            return
        for r in rows:
            row = _row(order, r)
            d = row.delivery
            cells = [row.municipality, row.kind, d.name, d.email,
                     DELIVERY_LABELS[d.status], str(d.attempts), d.last_error,
                     tokyo(d.sent_at, seconds=True) if d.sent_at else "", row.code]
            yield [neutralise(c) for c in cells]
        last = rows[-1]
        after = tuple(getattr(last, f"k{i}") for i in range(len(keys)))
