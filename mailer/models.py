"""Database tables (SQLModel; SQLite and PostgreSQL).

The delivery ledger (`Delivery`) holds one row per (send, subscriber): the
unique constraint is what makes "each send mails a subscriber once" a fact the
database enforces, not a hope. A second send of the same part leaves out
whoever already has it unless the person who scheduled it chose to send it
again (`Send.overlap`, see `mailer.delivery.ledger.freeze_recipients`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy import Enum as SAEnum
from sqlmodel import Field, SQLModel

from mailer.addresses import email_hash
from mailer.search_text import search_key


def utcnow() -> datetime:
    return datetime.now(UTC)


def _status(enum: type[StrEnum], *, index: bool = False) -> Column[str]:
    # Stored as plain strings (no native ENUM type: adding a state later is
    # then a code change, not a schema change); loaded back as enum members.
    return Column(
        SAEnum(enum, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e]),
        nullable=False,
        index=index,
    )


def _ts(nullable: bool = True, index: bool = False) -> Column[datetime]:
    return Column(DateTime(timezone=True), nullable=nullable, index=index)


class SubscriberStatus(StrEnum):
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


class SendStatus(StrEnum):
    SCHEDULED = "scheduled"  # waiting for its time
    RUNNING = "running"  # ledger frozen, deliveries in flight
    PAUSED = "paused"
    DONE = "done"  # every delivery is in a final state
    CANCELLED = "cancelled"


class SendOverlap(StrEnum):
    """What a send does with subscribers who already got (or are getting) its part."""

    SKIP = "skip"  # leave them out when the recipients are frozen (the default)
    AGAIN = "again"  # send it to them again: an explicit choice when scheduling


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEFERRED = "deferred"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    #: the relay took the message's data and never answered (the connection
    #: hung or dropped before the final reply): it may or may not have been
    #: delivered; never sent again (docs/delivery.md, "The one ambiguous case")
    UNKNOWN = "unknown"


def _email_hash_default(context: Any) -> str:
    # Core INSERTs that leave the column out (the importer's executemany,
    # the admin's insert) get the hash of the row's own address.
    return email_hash(context.get_current_parameters()["email"])


#: the fields a subscriber's search key is made of (mailer.search_text.search_key)
SEARCH_KEY_FIELDS = ("name", "reading", "email", "organisation")


def subscriber_search_key(values: Any) -> str:
    """Return the search key of a subscriber's values (a mapping, or an object
    with the fields as attributes); a missing field counts as empty."""
    get = values.get if isinstance(values, dict) else (lambda k: getattr(values, k, ""))
    return search_key(**{k: get(k) or "" for k in SEARCH_KEY_FIELDS})


def _search_key_default(context: Any) -> str:
    # Core INSERTs that leave the column out (the importer's executemany,
    # the admin's insert) get the key of the row's own values.
    return subscriber_search_key(dict(context.get_current_parameters()))


class Subscriber(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(sa_column=Column(String(320), unique=True, nullable=False))
    # sha256 of the normalised address (mailer.services.suppression): the
    # freeze matches it against suppression.email_hash in one equality.
    email_hash: str = Field(default="", sa_column=Column(
        String(64), nullable=False, server_default="", default=_email_hash_default))
    # the folded name, reading, address and organisation (mailer.search_text),
    # one per line: what a subscriber search matches with LIKE
    search_key: str = Field(default="", sa_column=Column(
        Text, nullable=False, server_default="", default=_search_key_default))
    name: str = ""
    reading: str = ""  # フリガナ (katakana or hiragana, as given)
    honorific: str = "様"
    organisation: str = ""
    organisation_kind: str = ""  # 都, 特別区, 市, 町, 村
    job_title: str = ""
    roles: str = ""  # ";"-separated tags: CIO;CISO
    format: str = "html"  # html | text
    charset: str = "utf-8"  # utf-8 | iso-2022-jp
    status: SubscriberStatus = Field(
        default=SubscriberStatus.ACTIVE, sa_column=_status(SubscriberStatus, index=True)
    )
    consent_source: str = ""
    consent_by: str = ""
    consent_at: datetime | None = Field(default=None, sa_column=_ts())
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts(False))


@event.listens_for(Subscriber, "before_insert")
@event.listens_for(Subscriber, "before_update")
def _keep_email_hash(_mapper: Any, _conn: Any, target: Subscriber) -> None:
    """ORM writes: the stored hash and search key always follow the fields."""
    target.email_hash = email_hash(target.email)
    target.search_key = subscriber_search_key(target)


class ListVisibility(StrEnum):
    """Who may see a list: readers see and join public lists only (an internal
    list is shown to its own members, so they can leave it)."""

    PUBLIC = "public"
    INTERNAL = "internal"


class MailingList(SQLModel, table=True):
    __tablename__ = "mailing_list"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=Column(String(100), unique=True, nullable=False))
    title: str = ""
    visibility: ListVisibility = Field(
        default=ListVisibility.INTERNAL,
        sa_column=Column(String(16), nullable=False, server_default="internal"))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(False))


class Membership(SQLModel, table=True):
    list_id: int = Field(foreign_key="mailing_list.id", primary_key=True)
    subscriber_id: int = Field(foreign_key="subscriber.id", primary_key=True, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(False))


class Suppression(SQLModel, table=True):
    """Addresses never to be mailed (hard bounces, complaints, erasures)."""

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(sa_column=Column(String(320), unique=True, nullable=False))
    # sha256 of the normalised address; after an erasure `email` holds only
    # "erased:<hash>", and imports check new addresses against this column.
    email_hash: str = Field(default="", sa_column=Column(String(64), nullable=False, index=True))
    reason: str = ""
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(False))


@event.listens_for(Suppression, "before_insert")
def _suppression_key(_mapper: Any, _conn: Any, target: Suppression) -> None:
    """ORM writes: a row added without its key gets the hash of its address (an
    erasure's `erased:<hash>` row comes with its key)."""
    if not target.email_hash:
        target.email_hash = email_hash(target.email)


class Issue(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(sa_column=Column(String(100), unique=True, nullable=False))
    number: int
    title: str
    series: str = ""
    document: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    source_digest: str = ""
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts(False))


class IssueAsset(SQLModel, table=True):
    """An image an issue's documents use, kept in the database so every web
    host serves it (`GET /assets/{slug}/{path}`). Written by `load_issue` with
    the issue and its parts; `path` is the document's `src` (relative, POSIX)."""

    __tablename__ = "issue_asset"
    __table_args__ = (UniqueConstraint("issue_id", "path", name="uq_issue_asset_issue_path"),)
    id: int | None = Field(default=None, primary_key=True)
    issue_id: int = Field(foreign_key="issue.id")  # the unique key's index serves lookups
    path: str = Field(sa_column=Column(String(500), nullable=False))
    media_type: str = Field(sa_column=Column(String(50), nullable=False))
    sha256: str = Field(sa_column=Column(String(64), nullable=False))  # hex; the ETag
    size: int
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts(False))


class Part(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("issue_id", "label", name="uq_part_issue_label"),)
    id: int | None = Field(default=None, primary_key=True)
    issue_id: int = Field(foreign_key="issue.id", index=True)
    label: str
    position: int = 0
    title: str
    subject: str
    scheduled_at: datetime | None = Field(default=None, sa_column=_ts())
    document: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    # When the part went public (archive page, feed, images); NULL: staff and
    # preview links only. Set by its first real send's start or by an editor
    # (mailer.services.publication).
    published_at: datetime | None = Field(default=None, sa_column=_ts())
    published_by: str = ""  # who published it ("system" for a send's start)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts(False))


class Send(SQLModel, table=True):
    """A part sent to one or more lists at a scheduled time."""

    id: int | None = Field(default=None, primary_key=True)
    part_id: int = Field(foreign_key="part.id", index=True)
    status: SendStatus = Field(
        default=SendStatus.SCHEDULED, sa_column=_status(SendStatus, index=True)
    )
    scheduled_at: datetime = Field(sa_column=_ts(False, index=True))
    started_at: datetime | None = Field(default=None, sa_column=_ts())
    finished_at: datetime | None = Field(default=None, sa_column=_ts())
    recipients: int = 0  # frozen at start
    # Per-state counts kept when old ledger rows are compacted (retention).
    counts_json: str = Field(default="", sa_column=Column(Text, nullable=False))
    note: str = ""  # why paused / what happened
    created_by: str = ""  # the creator's name as shown (see services/actors.py)
    created_by_user_id: int | None = None  # the creator as a person, when a staff user
    approved_by: str = ""  # empty: not approved (matters when approval is required)
    approved_by_user_id: int | None = None
    approved_at: datetime | None = Field(default=None, sa_column=_ts())
    overlap: SendOverlap = Field(default=SendOverlap.SKIP, sa_column=_status(SendOverlap))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts(False))


class SendList(SQLModel, table=True):
    __tablename__ = "send_list"
    send_id: int = Field(foreign_key="send.id", primary_key=True)
    list_id: int = Field(foreign_key="mailing_list.id", primary_key=True)


class Delivery(SQLModel, table=True):
    """The ledger: one row per (send, subscriber). `sent` only after the
    relay accepted the message."""

    __table_args__ = (
        # One row per send and subscriber (the send fixes the part). Led by
        # (part_id, subscriber_id): the freeze asks "has this subscriber had
        # this part?" through it (migration 0006).
        UniqueConstraint("part_id", "subscriber_id", "send_id",
                         name="uq_delivery_part_subscriber_send"),
        # Claims read a send's due rows in id order: (send_id, status, id).
        Index("ix_delivery_send_status", "send_id", "status", "id"),
        # The dispatcher's lease sweep, every tick: only rows in flight.
        Index(
            "ix_delivery_sending_lease",
            "lease_until",
            postgresql_where=text("status = 'sending'"),
            sqlite_where=text("status = 'sending'"),
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    # No foreign keys: checked row by row they were most of the time it took
    # to freeze a million recipients. The ids come from the rows the freeze
    # joins; sends and parts are never deleted, and a subscriber only after
    # its deliveries (migration 0002 says more).
    send_id: int
    part_id: int
    subscriber_id: int = Field(index=True)
    email: str = Field(sa_column=Column(String(320), nullable=False))  # as frozen
    status: DeliveryStatus = Field(
        default=DeliveryStatus.PENDING, sa_column=_status(DeliveryStatus)
    )
    attempts: int = 0
    last_error: str = ""
    message_id: str = ""
    relay: str = ""
    next_attempt_at: datetime | None = Field(default=None, sa_column=_ts())
    lease_until: datetime | None = Field(default=None, sa_column=_ts())
    # The fencing token of the claim holding the row (docs/delivery.md): a
    # renewal or an outcome only touches the row while it still matches.
    lease_token: str = Field(
        default="", sa_column=Column(String(32), nullable=False, server_default="")
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts(False))
    sent_at: datetime | None = Field(default=None, sa_column=_ts())


class SubscriberEvent(SQLModel, table=True):
    """Every change of a subscriber's status or preferences: who or what, when, why."""

    __tablename__ = "subscriber_event"
    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int | None = Field(default=None, foreign_key="subscriber.id", index=True)
    kind: str  # unsubscribed, resubscribed, preferences, bounced, complained, imported
    detail: str = ""
    source: str = ""  # one-click, web, mailto, import, bounce, admin:<user>
    delivery_id: int | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(False, index=True))


class Segment(SQLModel, table=True):
    """A saved filter over subscriber fields (e.g. all 特別区 CIOs)."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=Column(String(100), unique=True, nullable=False))
    title: str = ""
    filter_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(False))


class InboundMessage(SQLModel, table=True):
    """A message that reached the bounce address: DSN, complaint, auto-reply or
    unknown. Kept whole, so what could not be parsed is reported, not guessed."""

    __tablename__ = "inbound_message"
    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = Field(default_factory=utcnow, sa_column=_ts(False, index=True))
    mail_from: str = ""
    rcpt_to: str = ""
    kind: str = Field(default="unknown", sa_column=Column(String(20), nullable=False, index=True))
    # dsn-hard, dsn-soft, complaint, autoreply, unknown
    delivery_id: int | None = Field(default=None, index=True)
    subscriber_id: int | None = Field(default=None, index=True)
    summary: str = ""
    raw: str = Field(default="", sa_column=Column(Text, nullable=False))


class UserRole(StrEnum):
    EDITOR = "editor"  # compose, preview, test-send, schedule
    APPROVER = "approver"  # approve scheduled sends
    LIST_ADMIN = "list_admin"  # subscribers, lists, suppressions, bounces
    VIEWER = "viewer"
    ADMIN = "admin"  # everything, and users


class User(SQLModel, table=True):
    """A staff account of the web admin. Passwords are argon2 hashes."""

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(sa_column=Column(String(320), unique=True, nullable=False))
    name: str = ""
    password_hash: str = ""
    roles: str = ""  # ";"-separated UserRole values
    active: bool = True
    # Raised by "log out everywhere": sessions carry the epoch they began in.
    session_epoch: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(False))
    last_login_at: datetime | None = Field(default=None, sa_column=_ts())


class ApiToken(SQLModel, table=True):
    """A REST API token, scoped to roles; only its hash is stored."""

    __tablename__ = "api_token"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    name: str = ""
    token_hash: str = Field(sa_column=Column(String(128), unique=True, nullable=False))
    roles: str = ""
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(False))
    last_used_at: datetime | None = Field(default=None, sa_column=_ts())
    revoked_at: datetime | None = Field(default=None, sa_column=_ts())


class AuditLog(SQLModel, table=True):
    """Every change made by a person or token: who, what, when."""

    __tablename__ = "audit_log"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=_ts(False, index=True))
    actor: str = ""  # user email, "token:<name>", "cli:<user>", "system"
    action: str = ""  # e.g. send.schedule, send.approve, subscriber.update
    target_type: str = ""
    target_id: str = ""
    detail: str = Field(default="", sa_column=Column(Text, nullable=False))


class IssueRevision(SQLModel, table=True):
    """One saved state of an issue written in the browser editor: who saved
    it, when, and the whole draft (`mailer.compose.draft.DraftIssue` JSON).
    Revisions are never changed; restoring one saves a new revision."""

    __tablename__ = "issue_revision"
    __table_args__ = (UniqueConstraint("slug", "number", name="uq_issue_revision_slug_number"),)
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(sa_column=Column(String(100), nullable=False))
    number: int  # 1, 2, … per slug
    author: str = ""  # Actor.name (the audit log's actor)
    author_person: str = ""  # Actor.person: who, whichever door
    author_name: str = ""  # what the pages show (the user's name, else `author`)
    note: str = ""  # e.g. "第3版を復元"
    content: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(False))


class DraftAsset(SQLModel, table=True):
    """An image uploaded in the editor, by draft slug and path (images/…);
    copied into the issue folder when the draft is previewed or published."""

    __tablename__ = "draft_asset"
    __table_args__ = (UniqueConstraint("slug", "path", name="uq_draft_asset_slug_path"),)
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(sa_column=Column(String(100), nullable=False))
    path: str = Field(sa_column=Column(String(500), nullable=False))
    media_type: str = Field(sa_column=Column(String(50), nullable=False))
    size: int
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(False))
