"""The typed document an issue folder is parsed into.

This is the contract between authoring (`mailer.compose`) and rendering
(`mailer.render`). Documents are pydantic models so they can be stored as JSON
in the database and validated when read back.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field


class Span(BaseModel):
    """A run of inline text. `href` is set for a link (absolute https URL)."""

    text: str
    href: str | None = None
    strong: bool = False


class Lead(BaseModel):
    """The lead paragraph(s) about the magazine, shown before the body."""

    kind: Literal["lead"] = "lead"
    paragraphs: list[list[Span]]


class Heading(BaseModel):
    """A section heading (level 2) or subheading (level 3)."""

    kind: Literal["heading"] = "heading"
    level: int = 2
    text: str


class Paragraph(BaseModel):
    kind: Literal["paragraph"] = "paragraph"
    spans: list[Span]


class Note(BaseModel):
    """A ※ note defining a term. `spans` excludes the leading ※."""

    kind: Literal["note"] = "note"
    spans: list[Span]


class EventDate(BaseModel):
    """The event date, shown in the era calendar (令和3年10月15日)."""

    kind: Literal["event_date"] = "event_date"
    label: str = "開催日"
    date: date


class Participant(BaseModel):
    """One participant: `titles` is the full job title line, `short` the
    abbreviation used in later speaker turns (「以下「高橋」」)."""

    name: str
    organisation: str
    titles: str
    short: str


class Participants(BaseModel):
    """The participants list (敬称略)."""

    kind: Literal["participants"] = "participants"
    heading: str = "参加者(敬称略)"
    people: list[Participant]


class Prompt(BaseModel):
    """An interviewer prompt; `spans` excludes the leading ―."""

    kind: Literal["prompt"] = "prompt"
    spans: list[Span]


class Turn(BaseModel):
    """A speaker turn. `label` is what is printed before the words: the full
    title with 「(以下「X」)」 on the speaker's first turn, the short name after."""

    kind: Literal["turn"] = "turn"
    speaker: str
    label: str
    first: bool = False
    paragraphs: list[list[Span]]


class Figure(BaseModel):
    """An image. `src` is a path relative to the issue folder's assets
    (resolved to an absolute URL under MAILER_BASE_URL at render time).
    `label` is e.g. "スライド6" or "画像3"."""

    kind: Literal["figure"] = "figure"
    src: str
    alt: str
    label: str | None = None
    caption: str | None = None
    width: int | None = None
    height: int | None = None


class Credit(BaseModel):
    role: str  # 執筆者, 編集
    name: str
    department: str  # may be "(同上)"


class Credits(BaseModel):
    kind: Literal["credits"] = "credits"
    entries: list[Credit]


class NextPart(BaseModel):
    """The closing notice announcing the next part."""

    kind: Literal["next_part"] = "next_part"
    spans: list[Span]


Block = Annotated[
    Lead | Heading | Paragraph | Note | EventDate | Participants | Prompt | Turn | Figure
    | Credits | NextPart,
    Field(discriminator="kind"),
]


class PartDocument(BaseModel):
    """One part of an issue, as sent on its own day."""

    label: str  # "part1"
    title: str
    subject: str
    preheader: str = ""
    scheduled_at: datetime | None = None  # timezone-aware (Asia/Tokyo)
    header_image: Figure | None = None
    blocks: list[Block]
    source_file: str = ""


class Publisher(BaseModel):
    name: str  # e.g. 東京都 デジタルサービス局 戦略部
    address: str
    contact_email: str
    contact_phone: str | None = None
    url: str | None = None


class BackNumber(BaseModel):
    number: str  # "第3回"
    title: str
    url: str


class IssueDocument(BaseModel):
    """A numbered issue of the magazine and its parts, in sending order."""

    slug: str  # folder name, stable id, e.g. "vol04"
    number: int
    title: str  # "○○市×都CIO座談会"
    series: str  # magazine name
    publisher: Publisher
    back_numbers: list[BackNumber] = Field(default_factory=list)
    parts: list[PartDocument]
