"""Segments: saved filters over subscriber fields ("all 特別区 CIOs").

A filter is a mapping field -> accepted values, stored as JSON in
`Segment.filter_json`. Values of one field are alternatives (OR); different
fields must all hold (AND). A segment does not imply a status: add
`status=active` to mail only active subscribers (the delivery ledger checks
status and suppressions again when a send starts).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, Select, and_, exists, func, literal, or_, select
from sqlmodel import Session

from mailer.i18n import _
from mailer.models import MailingList, Membership, Segment, Subscriber, SubscriberStatus
from mailer.services.importer import CHARSETS, FORMATS, KINDS, header_key, normalise_roles
from mailer.services.subscriber_fields import KIND_CHOICES

SUB = Subscriber.__table__  # type: ignore[attr-defined]
MEM = Membership.__table__  # type: ignore[attr-defined]
ML = MailingList.__table__  # type: ignore[attr-defined]
SEG = Segment.__table__  # type: ignore[attr-defined]

FIELDS = ("organisation_kind", "organisation", "role", "format", "charset", "status", "list")
_ALIASES = {
    "kind": "organisation_kind", "団体区分": "organisation_kind",
    "organization_kind": "organisation_kind", "organisation_kind": "organisation_kind",
    "organisation": "organisation", "organization": "organisation", "団体名": "organisation",
    "role": "role", "roles": "role", "役割": "role",
    "format": "format", "形式": "format", "charset": "charset", "文字コード": "charset",
    "status": "status", "状態": "status", "list": "list", "リスト": "list",
}
ALIASES = {header_key(k): v for k, v in _ALIASES.items()}


class SegmentError(ValueError):
    """A filter that cannot be used; the message says which condition and why."""


@dataclass(frozen=True)
class SegmentFilter:
    """field -> accepted values (normalised, in the order given)."""

    conditions: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def values(self, name: str) -> tuple[str, ...]:
        return dict(self.conditions).get(name, ())

    def to_json(self) -> str:
        return json.dumps({k: list(v) for k, v in self.conditions}, ensure_ascii=False)

    def describe(self) -> str:
        """The filter as staff read it: field names as `--where` takes them."""
        sep = " " + _("かつ") + " "
        return sep.join(
            _("{field} が {values} のいずれか").format(field=k, values=", ".join(v))
            if len(v) > 1 else f"{k}={v[0]}"
            for k, v in self.conditions) or _("（全購読者）")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Sequence[str] | str]) -> SegmentFilter:
        """Validate and normalise; raise SegmentError for an unknown field or value."""
        merged: dict[str, list[str]] = {}
        for raw_name, raw_values in data.items():
            name = ALIASES.get(header_key(raw_name))
            if name is None:
                raise SegmentError(_("知らない項目「{name}」です（使えるもの：{fields}）").format(
                    name=raw_name, fields="、".join(FIELDS)))
            items = [raw_values] if isinstance(raw_values, str) else list(raw_values)
            for raw in items:
                value = _normalise(name, str(raw))
                if value not in merged.setdefault(name, []):
                    merged[name].append(value)
        return cls(tuple((k, tuple(merged[k])) for k in FIELDS if k in merged))

    @classmethod
    def from_json(cls, text: str) -> SegmentFilter:
        try:
            data = json.loads(text or "{}")
        except json.JSONDecodeError as exc:
            raise SegmentError(_("filter_json が JSON として読めません（{error}）").format(
                error=exc)) from None
        if not isinstance(data, dict):
            raise SegmentError(_("filter_json は JSON のオブジェクトにしてください"))
        return cls.from_mapping(data)


def parse_where(items: Sequence[str]) -> SegmentFilter:
    """Return the filter of `--where field=value` options (repeat a field for OR)."""
    data: dict[str, list[str]] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise SegmentError(
                _("--where 「{item}」: 項目=値 の形で書いてください（例：kind=特別区）").format(
                    item=item))
        data.setdefault(name.strip(), []).append(value.strip())
    return SegmentFilter.from_mapping(data)


def _normalise(name: str, value: str) -> str:
    text = value.strip()
    if name == "organisation_kind":
        text = unicodedata.normalize("NFKC", text)
        if text not in KINDS:
            raise SegmentError(_("kind=「{value}」: {choices} のいずれかです").format(
                value=value, choices=_(KIND_CHOICES)))
    elif name == "format":
        if (fmt := FORMATS.get(header_key(text))) is None:
            raise SegmentError(_("format=「{value}」: html か text です").format(value=value))
        text = fmt
    elif name == "charset":
        if (charset := CHARSETS.get(header_key(text))) is None:
            raise SegmentError(_("charset=「{value}」: utf-8 か iso-2022-jp です").format(
                value=value))
        text = charset
    elif name == "status":
        if text not in {s.value for s in SubscriberStatus}:
            raise SegmentError(_("status=「{value}」: {choices} のいずれかです").format(
                value=value, choices="、".join(s.value for s in SubscriberStatus)))
    elif name == "role":
        text = normalise_roles(text)
        if not text or ";" in text:
            raise SegmentError(_("role=「{value}」: --where 1 つに役割は 1 つです").format(
                value=value))
    if not text:
        raise SegmentError(_("{name}: 値が空です").format(name=name))
    return text


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def segment_subscriber_ids(*, engine: Engine, segment: Segment | SegmentFilter) -> Select:  # type: ignore[type-arg]
    """Return a SELECT of the ids of the subscribers the segment matches.

    List names are resolved through `engine` now, so that a segment naming a
    list that no longer exists raises SegmentError instead of matching nobody.
    """
    flt = segment if isinstance(segment, SegmentFilter) else SegmentFilter.from_json(
        segment.filter_json)
    clauses = []
    for name, values in flt.conditions:
        if name in ("organisation_kind", "organisation", "format", "charset", "status"):
            clauses.append(SUB.c[name].in_(list(values)))
        elif name == "role":
            # roles is ";"-separated: CIO must match "CIO;CISO" but not "CIO補佐".
            # lower() on both sides: LIKE is case-insensitive on SQLite only.
            tagged = func.lower(literal(";") + SUB.c.roles + literal(";"))
            clauses.append(or_(*(tagged.like(f"%;{_escape_like(v.lower())};%", escape="\\")
                                 for v in values)))
        elif name == "list":
            with engine.connect() as conn:
                ids: dict[str, int] = {name: lid for name, lid in conn.execute(
                    select(ML.c.name, ML.c.id).where(ML.c.name.in_(list(values))))}
            missing = [v for v in values if v not in ids]
            if missing:
                raise SegmentError(_("list=「{name}」: そのリストはありません").format(
                    name=missing[0]))
            clauses.append(exists().where(and_(MEM.c.subscriber_id == SUB.c.id,
                                               MEM.c.list_id.in_(list(ids.values())))))
    return select(SUB.c.id).where(*clauses).order_by(SUB.c.id)


def create_segment(
    *, session: Session, name: str, where: SegmentFilter, title: str = ""
) -> Segment:
    """Store a segment; raise SegmentError if the name is taken or a list is unknown.
    Does not commit."""
    name = name.strip()
    if not name:
        raise SegmentError(_("セグメントの名前がありません"))
    if session.execute(select(SEG.c.id).where(SEG.c.name == name)).scalar() is not None:
        raise SegmentError(_("セグメント「{name}」はもうあります").format(name=name))
    lists = where.values("list")
    if lists:
        known = set(session.execute(select(ML.c.name).where(ML.c.name.in_(lists))).scalars())
        missing = [v for v in lists if v not in known]
        if missing:
            raise SegmentError(_("list=「{name}」: そのリストはありません").format(
                    name=missing[0]))
    segment = Segment(name=name, title=title or name, filter_json=where.to_json())
    session.add(segment)
    session.flush()
    return segment


def get_segment(*, session: Session, name: str) -> Segment:
    """Return the segment called `name`; raise SegmentError if there is none."""
    segment = session.execute(select(Segment).where(Segment.name == name)).scalars().first()  # type: ignore[arg-type]
    if segment is None:
        raise SegmentError(_("セグメント「{name}」はありません").format(name=name))
    return segment


def all_segments(*, session: Session) -> list[Segment]:
    return list(session.execute(select(Segment).order_by(Segment.name)).scalars())  # type: ignore[arg-type]
