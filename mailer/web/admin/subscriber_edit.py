"""Creating and editing one subscriber, shared by the admin pages and the API.

Values are checked as an import checks a CSV cell (`mailer.services.importer`:
the same address rules, 団体区分, format and charset values), so a subscriber
made by hand could have come from a file. Every change runs in one
transaction with its `SubscriberEvent`s and its audit record; each function
raises `ServiceError` (status 422 with the field at fault, 404, 409) instead.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, or_, select, update

from mailer.db import session_scope
from mailer.models import (
    MailingList,
    Membership,
    Subscriber,
    SubscriberEvent,
    SubscriberStatus,
    Suppression,
    UserRole,
)
from mailer.services.errors import ErrorKind, ServiceError, invalid
from mailer.services.importer import (
    CHARSETS,
    FORMATS,
    KINDS,
    header_key,
    normalise_email,
    normalise_roles,
)
from mailer.services.suppression import email_hash, suppression_reason
from mailer.web.auth import Principal, record_audit
from mailer.web.state import WebState

SUB = Subscriber.__table__  # type: ignore[attr-defined]
MEM = Membership.__table__  # type: ignore[attr-defined]
ML = MailingList.__table__  # type: ignore[attr-defined]
EVT = SubscriberEvent.__table__  # type: ignore[attr-defined]
SUP = Suppression.__table__  # type: ignore[attr-defined]

#: who may create, edit, import and export subscribers
EDIT_SUBSCRIBERS = (UserRole.LIST_ADMIN, UserRole.ADMIN)
MAX_TEXT = 200  # characters of a name, organisation, title or roles cell
ALL_LISTS = "all lists"  # event detail of a status change (as the web app writes it)
#: the event kind written when an admin sets a status
STATUS_EVENTS = {
    SubscriberStatus.ACTIVE: "resubscribed", SubscriberStatus.UNSUBSCRIBED: "unsubscribed",
    SubscriberStatus.BOUNCED: "bounced", SubscriberStatus.COMPLAINED: "complained",
}
TEXT_FIELDS = ("name", "honorific", "organisation", "job_title")


@dataclass(frozen=True)
class SubscriberInput:
    """What a form or a request asks for; None leaves a stored value as it is."""

    email: str | None = None
    name: str | None = None
    honorific: str | None = None
    organisation: str | None = None
    organisation_kind: str | None = None
    job_title: str | None = None
    roles: str | None = None
    format: str | None = None
    charset: str | None = None
    status: str | None = None
    lists: Sequence[str] | None = None  # list names; None: memberships unchanged


@dataclass
class Clean:
    """Checked values, in their stored form."""

    values: dict[str, str] = field(default_factory=dict)
    status: SubscriberStatus | None = None
    lists: list[str] | None = None


def _text(name: str, raw: str) -> str:
    value = raw.strip()
    bad = next((ch for ch in value if unicodedata.category(ch) in ("Cc", "Co")), None)
    if bad is not None:
        raise ServiceError(f"{name}: 制御文字・外字（U+{ord(bad):04X}）は使えません",
                          kind=ErrorKind.INVALID, field=name)
    if len(value) > MAX_TEXT:
        raise ServiceError(f"{name}: {MAX_TEXT} 文字までです", kind=ErrorKind.INVALID, field=name)
    return value


def clean(data: SubscriberInput, *, creating: bool) -> Clean:
    """Return the checked values of `data` (the first problem raises ServiceError 422)."""
    out = Clean()
    if data.email is not None or creating:
        try:
            out.values["email"] = normalise_email(_text("email", data.email or ""))
        except ValueError as exc:
            raise ServiceError(f"email: メールアドレスが正しくありません（{exc}）",
                              kind=ErrorKind.INVALID, field="email") from None
    for name in TEXT_FIELDS:
        raw = getattr(data, name)
        if raw is not None:
            out.values[name] = _text(name, raw)
    if out.values.get("honorific") == "":
        out.values["honorific"] = "様"
    if data.organisation_kind is not None:
        kind = unicodedata.normalize("NFKC", _text("organisation_kind", data.organisation_kind))
        if kind and kind not in KINDS:
            raise ServiceError(f"organisation_kind: {'、'.join(KINDS)} のいずれかです",
                              kind=ErrorKind.INVALID, field="organisation_kind")
        out.values["organisation_kind"] = kind
    if data.roles is not None:
        out.values["roles"] = normalise_roles(_text("roles", data.roles))
    if data.format is not None:
        fmt = FORMATS.get(header_key(data.format))
        if fmt is None:
            raise ServiceError("format: html か text です", kind=ErrorKind.INVALID, field="format")
        out.values["format"] = fmt
    if data.charset is not None:
        charset = CHARSETS.get(header_key(data.charset))
        if charset is None:
            raise ServiceError("charset: utf-8 か iso-2022-jp です",
                               kind=ErrorKind.INVALID, field="charset")
        out.values["charset"] = charset
    if data.status is not None:
        known = {s.value: s for s in SubscriberStatus}
        if data.status not in known:
            raise invalid(f"status: {', '.join(known)} のいずれかです", "status")
        out.status = known[data.status]
    if data.lists is not None:
        out.lists = sorted({n.strip() for n in data.lists if n.strip()})
    return out


def _list_ids(conn: Connection, names: list[str]) -> dict[str, int]:
    found: dict[str, int] = {r.name: r.id for r in conn.execute(
        select(ML.c.name, ML.c.id).where(ML.c.name.in_(names))).all()}
    missing = [n for n in names if n not in found]
    if missing:
        raise invalid(f"lists: リスト {', '.join(missing)} はありません", "lists")
    return found


def _taken(conn: Connection, email: str, *, other_than: int | None) -> bool:
    query = select(SUB.c.id).where(or_(SUB.c.email == email,
                                       func.lower(SUB.c.email) == email.lower()))
    if other_than is not None:
        query = query.where(SUB.c.id != other_than)
    return conn.execute(query.limit(1)).first() is not None


def _suppressed(conn: Connection, email: str) -> str | None:
    reason = suppression_reason(conn, email)  # any case, and erased addresses
    return None if reason is None else (reason or "理由なし")


def _event(conn: Connection, sid: int, kind: str, detail: str, source: str,
           at: datetime) -> None:
    conn.execute(insert(EVT).values(subscriber_id=sid, kind=kind, detail=detail, source=source,
                                    delivery_id=None, created_at=at))


def _left(conn: Connection, sid: int, list_name: str) -> bool:
    """Return True if the subscriber's last word about this list was an unsubscribe."""
    kind = conn.execute(
        select(EVT.c.kind).where(EVT.c.subscriber_id == sid, EVT.c.detail == list_name,
                                 EVT.c.kind.in_(["unsubscribed", "resubscribed"]))
        .order_by(EVT.c.id.desc()).limit(1)).scalar()
    return kind == "unsubscribed"


def create_subscriber(*, web: WebState, principal: Principal, data: SubscriberInput) -> int:
    """Create a subscriber (active, consent recorded as this admin, now); return its id.

    Raises ServiceError: 422 for a bad value, an address already stored
    (case-insensitively) or one on the suppression list, or an unknown list.
    """
    c = clean(replace(data, status=None), creating=True)
    email = c.values["email"]
    now = datetime.now(UTC)
    source = f"admin:{principal.actor}"
    with session_scope(web.engine) as session:
        conn = session.connection()
        if _taken(conn, email, other_than=None):
            raise invalid(f"email: {email} は登録済みです", "email")
        reason = _suppressed(conn, email)
        if reason is not None:
            raise ServiceError(f"email: {email} は配信抑止リストにあります（{reason}）",
                              kind=ErrorKind.INVALID, field="email")
        list_ids = _list_ids(conn, c.lists or [])
        values: dict[str, Any] = {
            "name": "", "honorific": "様", "organisation": "", "organisation_kind": "",
            "job_title": "", "roles": "", "format": "html", "charset": "utf-8", **c.values,
            "status": SubscriberStatus.ACTIVE.value, "consent_source": source,
            "consent_by": principal.actor, "consent_at": now, "created_at": now,
            "updated_at": now,
        }
        key = conn.execute(insert(SUB).values(**values)).inserted_primary_key
        assert key is not None
        sid = int(key[0])
        for lid in list_ids.values():
            conn.execute(insert(MEM).values(list_id=lid, subscriber_id=sid, created_at=now))
        lists = ", ".join(list_ids)
        _event(conn, sid, "created", f"lists: {lists}" if lists else "", source, now)
        record_audit(conn, actor=principal.actor, action="subscriber.create",
                     target_type="subscriber", target_id=sid,
                     detail=f"{email}" + (f"; lists: {lists}" if lists else ""))
    return sid


def update_subscriber(*, web: WebState, principal: Principal, subscriber_id: int,
                      data: SubscriberInput) -> list[str]:
    """Apply the given fields, status and lists; return the changes in words
    (empty: nothing changed, nothing written).

    A status change writes a `resubscribed`/`unsubscribed`/`bounced`/`complained`
    event ("all lists"), and setting `active` records this admin as the consent.
    Leaving a list writes `unsubscribed` (detail: the list), so a later import
    does not put the subscriber back; joining one the subscriber had left
    writes `resubscribed`. Raises ServiceError (404, 422).
    """
    c = clean(data, creating=False)
    now = datetime.now(UTC)
    source = f"admin:{principal.actor}"
    with session_scope(web.engine) as session:
        conn = session.connection()
        old = conn.execute(select(SUB).where(SUB.c.id == subscriber_id)).one_or_none()
        if old is None:
            raise ServiceError(f"subscriber {subscriber_id}: no such subscriber",
                               kind=ErrorKind.NOT_FOUND)
        changes = [f"{k}: {getattr(old, k)} -> {v}" for k, v in c.values.items()
                   if getattr(old, k) != v]
        new_email = c.values.get("email")
        if new_email is not None and new_email != old.email and _taken(
                conn, new_email, other_than=subscriber_id):
            raise invalid(f"email: {new_email} は登録済みです", "email")
        values: dict[str, Any] = {k: v for k, v in c.values.items() if getattr(old, k) != v}
        status_change = c.status is not None and c.status != SubscriberStatus(old.status)
        if status_change:
            assert c.status is not None
            values["status"] = c.status.value
            if c.status is SubscriberStatus.ACTIVE:
                values.update(consent_source=source, consent_by=principal.actor, consent_at=now)
            changes.append(f"status: {SubscriberStatus(old.status).value} -> {c.status.value}")
        joined: list[str] = []
        left: list[str] = []
        if c.lists is not None:
            current: dict[str, int] = {r.name: r.id for r in conn.execute(
                select(ML.c.name, ML.c.id).join(MEM, MEM.c.list_id == ML.c.id)
                .where(MEM.c.subscriber_id == subscriber_id)).all()}
            wanted = _list_ids(conn, c.lists)
            joined = sorted(set(wanted) - set(current))
            left = sorted(set(current) - set(wanted))
            for name in joined:
                if _left(conn, subscriber_id, name):
                    _event(conn, subscriber_id, "resubscribed", name, source, now)
                conn.execute(insert(MEM).values(list_id=wanted[name],
                                                subscriber_id=subscriber_id, created_at=now))
            for name in left:
                conn.execute(delete(MEM).where(MEM.c.list_id == current[name],
                                               MEM.c.subscriber_id == subscriber_id))
                _event(conn, subscriber_id, "unsubscribed", name, source, now)
            changes += [f"list: +{n}" for n in joined] + [f"list: -{n}" for n in left]
        if not changes:
            return []
        if "email" in values:  # the suppression key follows the address
            values["email_hash"] = email_hash(values["email"])
        if values:
            conn.execute(update(SUB).where(SUB.c.id == subscriber_id)
                         .values(**values, updated_at=now))
        if status_change:
            assert c.status is not None
            _event(conn, subscriber_id, STATUS_EVENTS[c.status], ALL_LISTS, source, now)
        field_changes = [x for x in changes if not x.startswith(("status:", "list:"))]
        if field_changes:
            _event(conn, subscriber_id, "updated", "; ".join(field_changes), source, now)
        record_audit(conn, actor=principal.actor, action="subscriber.update",
                     target_type="subscriber", target_id=subscriber_id,
                     detail="; ".join(changes))
    return changes


@dataclass(frozen=True)
class Editable:
    """A subscriber's values as the edit form shows them."""

    id: int
    email: str
    name: str
    honorific: str
    organisation: str
    organisation_kind: str
    job_title: str
    roles: str
    format: str
    charset: str
    status: str
    lists: list[str]


def editable(web: WebState, subscriber_id: int) -> Editable | None:
    """Return the stored values of a subscriber, or None."""
    with web.engine.connect() as conn:
        row = conn.execute(select(SUB).where(SUB.c.id == subscriber_id)).one_or_none()
        if row is None:
            return None
        names = list(conn.execute(
            select(ML.c.name).join(MEM, MEM.c.list_id == ML.c.id)
            .where(MEM.c.subscriber_id == subscriber_id).order_by(ML.c.name)).scalars())
    values = {f.name: getattr(row, f.name) for f in fields(Editable) if f.name != "lists"}
    values["status"] = SubscriberStatus(row.status).value
    return Editable(**values, lists=names)


def list_names(web: WebState) -> list[tuple[str, str]]:
    """Return (name, title) of every list, by name."""
    with web.engine.connect() as conn:
        return [(r.name, r.title or r.name) for r in conn.execute(
            select(ML.c.name, ML.c.title).order_by(ML.c.name)).all()]
