"""Creating, editing, unsubscribing and resubscribing one subscriber: the use
cases behind the admin form and the API, whoever acts (an `Actor`).

Values are checked by the field declaration (`mailer.services.subscriber_fields`),
the rules a CSV import applies to a cell, so a subscriber made by hand could
have come from a file. Every change runs in one transaction with its
`SubscriberEvent`s and its audit record; each function raises `ServiceError`
(INVALID with the field at fault, NOT_FOUND) instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, or_, select, update

from mailer.db import session_scope
from mailer.i18n import _
from mailer.models import (
    SEARCH_KEY_FIELDS,
    MailingList,
    Membership,
    Subscriber,
    SubscriberEvent,
    SubscriberStatus,
    Suppression,
    subscriber_search_key,
)
from mailer.services.accounts import record_audit
from mailer.services.actors import Actor
from mailer.services.errors import ErrorKind, ServiceError, invalid
from mailer.services.subscriber_fields import BY_NAME, FIELDS, BadValue, SubscriberField, defaults
from mailer.services.suppression import email_hash, suppression_reason

SUB = Subscriber.__table__  # type: ignore[attr-defined]
MEM = Membership.__table__  # type: ignore[attr-defined]
ML = MailingList.__table__  # type: ignore[attr-defined]
EVT = SubscriberEvent.__table__  # type: ignore[attr-defined]
SUP = Suppression.__table__  # type: ignore[attr-defined]

ALL_LISTS = "all lists"  # event detail of a status change (as the web app writes it)
#: the event kind written when staff set a status
STATUS_EVENTS = {
    SubscriberStatus.ACTIVE: "resubscribed", SubscriberStatus.UNSUBSCRIBED: "unsubscribed",
    SubscriberStatus.BOUNCED: "bounced", SubscriberStatus.COMPLAINED: "complained",
}


@dataclass(frozen=True)
class SubscriberInput:
    """What a form or a request asks for: raw values by field name (an absent
    field keeps its stored value; a blank one resets it to its default), and
    the list names (None: memberships unchanged)."""

    values: Mapping[str, str | None] = field(default_factory=dict)
    lists: Sequence[str] | None = None

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> SubscriberInput:
        """Return the input of a request's dict (declared field names and `lists`;
        None values are absent). Raises ServiceError (INVALID) for any other key."""
        unknown = [k for k in data if k not in BY_NAME and k != "lists"]
        if unknown:
            raise invalid(_("{value}: この項目はありません").format(value=unknown[0]), unknown[0])
        values = {k: str(v) for k, v in data.items() if k in BY_NAME and v is not None}
        lists = data.get("lists")
        return cls(values=values, lists=None if lists is None else [str(x) for x in lists])


@dataclass
class Clean:
    """Checked values, in their stored form."""

    values: dict[str, str] = field(default_factory=dict)
    status: SubscriberStatus | None = None
    lists: list[str] | None = None


def _value(f: SubscriberField, raw: str) -> str:
    if not raw.strip():
        if f.required:
            raise invalid(_("{name}: {label}を入力してください").format(
                              name=f.name, label=_(f.label)), f.name)
        return f.default
    try:
        return f.check(raw)
    except BadValue as exc:
        raise invalid(f"{f.name}: {exc}", f.name) from None


def clean(data: SubscriberInput, *, creating: bool) -> Clean:
    """Return the checked values of `data` (the first problem raises ServiceError INVALID).

    Creating, fields not given at creation (the status) are ignored and a
    required field (the address) must be given.
    """
    out = Clean()
    for f in FIELDS:
        if creating and not f.on_create:
            continue
        raw = data.values.get(f.name)
        if raw is None and creating and f.required:
            raw = ""
        if raw is not None:
            out.values[f.name] = _value(f, raw)
    status = out.values.pop("status", None)
    out.status = None if status is None else SubscriberStatus(status)
    if data.lists is not None:
        out.lists = sorted({n.strip() for n in data.lists if n.strip()})
    return out


def _list_ids(conn: Connection, names: list[str]) -> dict[str, int]:
    found: dict[str, int] = {r.name: r.id for r in conn.execute(
        select(ML.c.name, ML.c.id).where(ML.c.name.in_(names))).all()}
    missing = [n for n in names if n not in found]
    if missing:
        raise invalid(_("lists: リスト {missing} はありません").format(
                          missing="、".join(missing)), "lists")
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


def create_subscriber(*, engine: Engine, actor: Actor, data: SubscriberInput) -> int:
    """Create a subscriber (active, consent recorded as the actor, now); return its id.

    Raises ServiceError: 422 for a bad value, an address already stored
    (case-insensitively) or one on the suppression list, or an unknown list.
    """
    c = clean(data, creating=True)
    email = c.values["email"]
    now = datetime.now(UTC)
    source = f"admin:{actor.name}"
    with session_scope(engine) as session:
        conn = session.connection()
        if _taken(conn, email, other_than=None):
            raise invalid(_("email: {email} は登録済みです").format(email=email), "email")
        reason = _suppressed(conn, email)
        if reason is not None:
            raise ServiceError(_("email: {email} は配信抑止リストにあります（{reason}）").format(
                                   email=email, reason=reason),
                              kind=ErrorKind.INVALID, field="email")
        list_ids = _list_ids(conn, c.lists or [])
        values: dict[str, Any] = {
            **defaults(), **c.values,
            "status": SubscriberStatus.ACTIVE.value, "consent_source": source,
            "consent_by": actor.name, "consent_at": now, "created_at": now,
            "updated_at": now,
        }
        key = conn.execute(insert(SUB).values(**values)).inserted_primary_key
        assert key is not None
        sid = int(key[0])
        for lid in list_ids.values():
            conn.execute(insert(MEM).values(list_id=lid, subscriber_id=sid, created_at=now))
        lists = ", ".join(list_ids)
        _event(conn, sid, "created", f"lists: {lists}" if lists else "", source, now)
        record_audit(conn, actor=actor.name, action="subscriber.create",
                     target_type="subscriber", target_id=sid,
                     detail=_("{email}; リスト: {lists}").format(email=email, lists=lists)
                     if lists else email)
    return sid


def update_subscriber(*, engine: Engine, actor: Actor, subscriber_id: int,
                      data: SubscriberInput) -> list[str]:
    """Apply the given fields, status and lists; return the changes in words
    (empty: nothing changed, nothing written).

    A status change writes a `resubscribed`/`unsubscribed`/`bounced`/`complained`
    event ("all lists"), and setting `active` records the actor as the consent.
    Leaving a list writes `unsubscribed` (detail: the list), so a later import
    does not put the subscriber back; joining one the subscriber had left
    writes `resubscribed`. Raises ServiceError (404, 422).
    """
    c = clean(data, creating=False)
    now = datetime.now(UTC)
    source = f"admin:{actor.name}"
    with session_scope(engine) as session:
        conn = session.connection()
        old = conn.execute(select(SUB).where(SUB.c.id == subscriber_id)).one_or_none()
        if old is None:
            raise ServiceError(_("購読者 {subscriber_id} はいません").format(
                                   subscriber_id=subscriber_id),
                               kind=ErrorKind.NOT_FOUND)
        changes = [f"{k}: {getattr(old, k)} -> {v}" for k, v in c.values.items()
                   if getattr(old, k) != v]
        new_email = c.values.get("email")
        if new_email is not None and new_email != old.email and _taken(
                conn, new_email, other_than=subscriber_id):
            raise invalid(_("email: {new_email} は登録済みです").format(
                              new_email=new_email), "email")
        values: dict[str, Any] = {k: v for k, v in c.values.items() if getattr(old, k) != v}
        status_change = c.status is not None and c.status != SubscriberStatus(old.status)
        if status_change:
            assert c.status is not None
            values["status"] = c.status.value
            if c.status is SubscriberStatus.ACTIVE:
                values.update(consent_source=source, consent_by=actor.name, consent_at=now)
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
        if any(k in values for k in SEARCH_KEY_FIELDS):  # so does the search key
            values["search_key"] = subscriber_search_key(
                {k: values.get(k, getattr(old, k)) for k in SEARCH_KEY_FIELDS})
        if values:
            conn.execute(update(SUB).where(SUB.c.id == subscriber_id)
                         .values(**values, updated_at=now))
        if status_change:
            assert c.status is not None
            _event(conn, subscriber_id, STATUS_EVENTS[c.status], ALL_LISTS, source, now)
        field_changes = [x for x in changes if not x.startswith(("status:", "list:"))]
        if field_changes:
            _event(conn, subscriber_id, "updated", "; ".join(field_changes), source, now)
        record_audit(conn, actor=actor.name, action="subscriber.update",
                     target_type="subscriber", target_id=subscriber_id,
                     detail="; ".join(changes))
    return changes


def unsubscribe_subscriber(*, engine: Engine, actor: Actor, subscriber_id: int) -> bool:
    """Stop all mail to a subscriber (status `unsubscribed`, event "all lists",
    audit record); return False if it was already unsubscribed. Raises
    ServiceError (NOT_FOUND)."""
    return bool(update_subscriber(engine=engine, actor=actor, subscriber_id=subscriber_id,
                                  data=SubscriberInput(values={"status": "unsubscribed"})))


def resubscribe_subscriber(*, engine: Engine, actor: Actor, subscriber_id: int) -> bool:
    """Make a subscriber active again, recording `actor` as the consent; return
    False if it was already active. Raises ServiceError (NOT_FOUND)."""
    return bool(update_subscriber(engine=engine, actor=actor, subscriber_id=subscriber_id,
                                  data=SubscriberInput(values={"status": "active"})))


def editable(engine: Engine, subscriber_id: int) -> dict[str, Any] | None:
    """Return a subscriber's stored values by field name plus `lists` (names),
    as the edit form shows them, or None if there is no such subscriber."""
    with engine.connect() as conn:
        row = conn.execute(select(SUB).where(SUB.c.id == subscriber_id)).one_or_none()
        if row is None:
            return None
        names = list(conn.execute(
            select(ML.c.name).join(MEM, MEM.c.list_id == ML.c.id)
            .where(MEM.c.subscriber_id == subscriber_id).order_by(ML.c.name)).scalars())
    values: dict[str, Any] = {f.name: f.value_type(getattr(row, f.name)) for f in FIELDS}
    return {**values, "lists": names}
