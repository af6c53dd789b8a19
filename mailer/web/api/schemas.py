"""Request and response models of the REST API (pydantic)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from mailer.models import DeliveryStatus, SendOverlap, SendStatus
from mailer.services.subscriber_fields import FIELDS as SUBSCRIBER_FIELDS
from mailer.web.ids import MAX_ID


class ApiError(BaseModel):
    """Every error: a message, and the request field at fault (or null)."""

    detail: str
    field: str | None = None


class PartSummary(BaseModel):
    id: int
    issue_id: int
    label: str
    position: int
    title: str
    subject: str
    scheduled_at: datetime | None
    #: when the part went public (archive, feed, images); null: not public
    published_at: datetime | None = None
    published_by: str = ""


class PublicationOut(BaseModel):
    part_id: int
    action: Literal["publish", "unpublish"]
    published_at: datetime | None


class IssueOut(BaseModel):
    id: int
    slug: str
    number: int
    title: str
    series: str
    updated_at: datetime
    parts: list[PartSummary]


class IssueLoadOut(BaseModel):
    slug: str
    issue_id: int
    status: Literal["created", "updated", "unchanged"]
    parts: dict[str, Literal["created", "updated", "unchanged"]]


class IssueProblemsOut(BaseModel):
    """An issue folder refused: every problem as `file:line: message`."""

    detail: str
    field: str | None = "file"
    problems: list[str] = []  # empty for a request without a file (FastAPI's own 422)


class PartOut(PartSummary):
    issue_slug: str
    issue_number: int
    issue_title: str


class FindingOut(BaseModel):
    severity: Literal["error", "warning"]
    code: str
    message: str
    where: str


class PreflightOut(BaseModel):
    part_id: int
    errors: int
    warnings: int
    findings: list[FindingOut]
    iso2022jp_recipients: int


class TestSendOut(BaseModel):
    __test__ = False  # not a pytest class
    results: list[TestSendResult]


class TestSendResult(BaseModel):
    __test__ = False
    address: str
    outcome: str  # "sent" or the error


class SendCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    part_id: int = Field(ge=1, le=MAX_ID)
    lists: list[str] = Field(min_length=1, max_length=50)
    at: datetime | None = Field(
        default=None, description="ISO 8601; without an offset, Asia/Tokyo; null: now")
    overlap: SendOverlap = Field(
        default=SendOverlap.SKIP,
        description="subscribers who already got the part or are getting it from another "
                    "send: `skip` leaves them out (default), `again` sends it to them again")


class SendOut(BaseModel):
    id: int
    part_id: int
    part_label: str
    part_title: str
    issue_number: int
    status: SendStatus
    lists: list[str]
    scheduled_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    recipients: int
    created_by: str
    approved_by: str
    note: str
    overlap: SendOverlap = SendOverlap.SKIP


class SendPage(BaseModel):
    items: list[SendOut]
    next_after: int | None


class ProgressOut(SendOut):
    counts: dict[DeliveryStatus, int]
    unknown: int = Field(
        0, description="結果不明（SMTP 応答なし）: the relay took the data and never answered; "
        "not sent again (also counts.unknown)")
    rate_per_second: float
    eta_seconds: float | None
    later_joiners: int
    accounted: bool


class ScheduledOut(ProgressOut):
    """The answer to scheduling: the send, and who it leaves out."""

    overlapping: int = Field(
        description="recipients who already got the part or are getting it (when scheduled)")
    skipped: int = Field(description="of those, how many this send leaves out (overlap skip)")


class ActionOut(BaseModel):
    send_id: int
    action: str
    outcome: str
    status: SendStatus


class DeliveryOut(BaseModel):
    id: int
    subscriber_id: int
    email: str
    name: str
    organisation: str
    status: DeliveryStatus
    attempts: int
    last_error: str
    sent_at: datetime | None


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_after: int | None


def _subscriber_props() -> dict[str, Any]:
    """Return the properties of a subscriber: its id, every declared field
    (mailer.services.subscriber_fields), and when it was made and changed."""
    props: dict[str, Any] = {"id": (int, ...)}
    props.update({f.name: (f.value_type, ...) for f in SUBSCRIBER_FIELDS})
    props.update(created_at=(datetime, ...), updated_at=(datetime, ...))
    return props


class EventOut(BaseModel):
    id: int
    kind: str
    detail: str
    source: str
    created_at: datetime


SubscriberOut = create_model("SubscriberOut", **_subscriber_props())
SubscriberDetailOut = create_model(
    "SubscriberDetailOut", __base__=SubscriberOut, lists=(list[str], ...),
    suppressed=(str | None, ...), events=(list[EventOut], ...))


class SubscriberPage(BaseModel):
    items: list[SubscriberOut]  # type: ignore[valid-type]
    next_after: int | None
    total: int  # subscribers the search and filters match, on every page


class ListOut(BaseModel):
    id: int
    name: str
    title: str
    visibility: Literal["public", "internal"]
    members: int
    active: int


class SuppressionOut(BaseModel):
    id: int
    email: str
    reason: str
    created_at: datetime


class SuppressionPage(BaseModel):
    items: list[SuppressionOut]
    next_after: int | None


TestSendOut.model_rebuild()
