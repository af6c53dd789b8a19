"""Subscription changes made from the web: unsubscribe and preferences.

Each function runs inside the caller's transaction and locks the subscriber
row first, so two simultaneous requests for one subscriber (a mail provider
retrying its one-click POST, a double-clicked button) are serialised and the
second one finds nothing left to change. An event is written only when
something changed, which is what makes a repeated request idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, delete, func, select
from sqlmodel import Session, col

from mailer.db import session_scope
from mailer.i18n import _
from mailer.models import (
    ListVisibility,
    MailingList,
    Membership,
    Subscriber,
    SubscriberEvent,
    SubscriberStatus,
)

FORMATS = {"html": "HTML形式", "text": "テキスト形式"}
CHARSETS = {"utf-8": "UTF-8", "iso-2022-jp": "ISO-2022-JP(JIS)"}
ALL_LISTS = "all lists"  # event detail when a token names no list


@dataclass(frozen=True)
class SubscriptionView:
    """What the pages show about one subscriber and the list named by a token."""

    subscriber_id: int
    email: str
    status: SubscriberStatus
    format: str
    charset: str
    list_id: int | None
    list_title: str
    on_list: bool  # a member of list_id (False when list_id is None)
    #: every list, as (id, title, member?), for the "which lists" choice
    lists: tuple[tuple[int, str, bool], ...] = ()

    @property
    def receiving(self) -> bool:
        """True if mail of this token's list (or any list) still reaches the subscriber."""
        if self.status is not SubscriberStatus.ACTIVE:
            return False
        return self.on_list or self.list_id is None


def _lock_subscriber(session: Session, subscriber_id: int) -> Subscriber | None:
    # FOR UPDATE on PostgreSQL; SQLite already holds the write lock (BEGIN IMMEDIATE).
    return session.execute(
        select(Subscriber).where(Subscriber.id == subscriber_id).with_for_update()  # type: ignore[arg-type]
    ).scalars().first()


def _list(session: Session, list_id: int | None) -> MailingList | None:
    return session.get(MailingList, list_id) if list_id is not None else None


def _is_member(session: Session, subscriber_id: int, list_id: int | None) -> bool:
    if list_id is None:
        return False
    return session.get(Membership, (list_id, subscriber_id)) is not None


def view_subscription(
    *, session: Session, subscriber_id: int, list_id: int | None, default_title: str
) -> SubscriptionView | None:
    """Return what the pages show, or None if the subscriber no longer exists."""
    sub = session.get(Subscriber, subscriber_id)
    if sub is None or sub.id is None:
        return None
    ml = _list(session, list_id)
    return SubscriptionView(
        subscriber_id=sub.id,
        email=sub.email,
        status=SubscriberStatus(sub.status),
        format=sub.format,
        charset=sub.charset,
        list_id=list_id,
        list_title=(ml.title or ml.name) if ml else default_title,
        on_list=_is_member(session, sub.id, list_id),
        lists=_all_lists(session, sub.id),
    )


def _all_lists(session: Session, subscriber_id: int) -> tuple[tuple[int, str, bool], ...]:
    """The lists a reader may see: every public list, and the lists they are on."""
    member_of = set(
        session.execute(
            select(col(Membership.list_id)).where(col(Membership.subscriber_id) == subscriber_id)
        ).scalars()
    )
    rows = session.execute(select(MailingList).order_by(MailingList.id)).scalars()  # type: ignore[arg-type]
    return tuple((ml.id, ml.title or ml.name, ml.id in member_of) for ml in rows
                 if ml.id and (ml.id in member_of or ml.visibility == ListVisibility.PUBLIC))


def unsubscribe(
    *, session: Session, subscriber_id: int, list_id: int | None, source: str
) -> bool:
    """Take the subscriber off `list_id` (or off everything when None).

    The subscriber becomes UNSUBSCRIBED when no list is left (or list_id is
    None). Writes one `unsubscribed` event if anything changed. Returns True
    if something changed, False for a repeated request or an unknown
    subscriber. Does not commit.
    """
    sub = _lock_subscriber(session, subscriber_id)
    if sub is None:
        return False
    changed = False
    if list_id is not None:
        removed = session.execute(
            delete(Membership).where(
                Membership.list_id == list_id,  # type: ignore[arg-type]
                Membership.subscriber_id == subscriber_id,  # type: ignore[arg-type]
            )
        )
        changed = removed.rowcount == 1  # type: ignore[attr-defined]
        remaining = session.execute(
            select(func.count()).select_from(Membership).where(
                Membership.subscriber_id == subscriber_id  # type: ignore[arg-type]
            )
        ).scalar_one()
    else:
        remaining = 0
    # Only an active subscriber becomes unsubscribed: a bounced or complained
    # status is stronger and must survive (it also keeps the address unmailed).
    if remaining == 0 and sub.status == SubscriberStatus.ACTIVE:
        sub.status = SubscriberStatus.UNSUBSCRIBED
        sub.updated_at = datetime.now(UTC)
        changed = True
    if changed:
        ml = _list(session, list_id)
        session.add(SubscriberEvent(
            subscriber_id=subscriber_id, kind="unsubscribed", source=source,
            detail=ml.name if ml else ALL_LISTS if list_id is None else f"list {list_id}",
        ))
    session.flush()
    return changed


@dataclass(frozen=True)
class PreferenceChange:
    """What a preferences form asked for."""

    format: str
    charset: str
    resubscribe: bool = False
    #: the lists the reader wants (None: the form did not offer the choice)
    lists: frozenset[int] | None = None


def update_preferences(
    *, session: Session, subscriber_id: int, list_id: int | None, change: PreferenceChange,
    source: str = "web",
) -> list[str]:
    """Apply a preferences form; return the changes made (empty: nothing changed).

    Format and charset changes write one `preferences` event; a resubscription
    (only from UNSUBSCRIBED, or back onto the token's list while active)
    writes a `resubscribed` event and records the new consent. Raises
    ValueError for an unknown format or charset. Does not commit.
    """
    if change.format not in FORMATS or change.charset not in CHARSETS:
        raise ValueError(_("形式か文字コードが正しくありません"))
    sub = _lock_subscriber(session, subscriber_id)
    if sub is None:
        return []
    now = datetime.now(UTC)
    changes: list[str] = []
    if sub.format != change.format:
        changes.append(f"format: {sub.format} -> {change.format}")
        sub.format = change.format
    if sub.charset != change.charset:
        changes.append(f"charset: {sub.charset} -> {change.charset}")
        sub.charset = change.charset
    if changes:
        session.add(SubscriberEvent(
            subscriber_id=subscriber_id, kind="preferences", source=source,
            detail="; ".join(changes),
        ))
    if change.resubscribe and _resubscribe(session, sub, list_id, source=source, now=now):
        changes.append("resubscribed")
    if change.lists is not None and sub.status == SubscriberStatus.ACTIVE:
        changes.extend(_choose_lists(session, sub, change.lists, source=source))
    if changes:
        sub.updated_at = now
    session.flush()
    return changes


def _choose_lists(
    session: Session, sub: Subscriber, wanted: frozenset[int], *, source: str
) -> list[str]:
    """Join and leave lists as chosen; leaving the last one unsubscribes."""
    changes: list[str] = []
    for list_id, title, member in _all_lists(session, sub.id or 0):
        if list_id in wanted and not member:
            session.add(Membership(list_id=list_id, subscriber_id=sub.id))  # type: ignore[arg-type]
            session.add(SubscriberEvent(
                subscriber_id=sub.id, kind="joined", source=source, detail=title,
            ))
            changes.append(f"joined {title}")
        elif list_id not in wanted and member:
            unsubscribe(session=session, subscriber_id=sub.id or 0, list_id=list_id, source=source)
            changes.append(f"left {title}")
    session.flush()
    return changes


def _resubscribe(
    session: Session, sub: Subscriber, list_id: int | None, *, source: str, now: datetime
) -> bool:
    if sub.status not in (SubscriberStatus.ACTIVE, SubscriberStatus.UNSUBSCRIBED):
        return False  # bounced or complained: only an administrator may undo that
    ml = _list(session, list_id)
    changed = False
    if ml is not None and ml.id is not None and not _is_member(session, sub.id or 0, ml.id):
        session.add(Membership(list_id=ml.id, subscriber_id=sub.id))  # type: ignore[arg-type]
        changed = True
    if sub.status == SubscriberStatus.UNSUBSCRIBED:
        sub.status = SubscriberStatus.ACTIVE
        changed = True
    if changed:
        sub.consent_source = source
        sub.consent_by = sub.email
        sub.consent_at = now
        session.add(SubscriberEvent(
            subscriber_id=sub.id, kind="resubscribed", source=source,
            detail=ml.name if ml else ALL_LISTS,
        ))
    return changed


# -- the public links' doors: each request is one transaction of its own -------------


def unsubscribe_by_link(
    *, engine: Engine, subscriber_id: int, list_id: int | None, source: str
) -> bool:
    """`unsubscribe` in a transaction of its own; return True if anything changed."""
    with session_scope(engine) as session:
        return unsubscribe(session=session, subscriber_id=subscriber_id, list_id=list_id,
                           source=source)


def change_preferences(
    *, engine: Engine, subscriber_id: int, list_id: int | None, change: PreferenceChange,
    default_title: str,
) -> tuple[list[str], SubscriptionView | None]:
    """`update_preferences` in a transaction of its own; return (the changes made,
    what the page then shows, None if the subscriber no longer exists)."""
    with session_scope(engine) as session:
        changes = update_preferences(session=session, subscriber_id=subscriber_id,
                                     list_id=list_id, change=change)
        view = view_subscription(session=session, subscriber_id=subscriber_id,
                                 list_id=list_id, default_title=default_title)
    return changes, view
