"""What an editor may write in `issue.yaml` and in a part's front matter.

These input models forbid unknown keys (a typo such as `subjct` must not
silently drop the subject) and turn editor text into typed values; the parser
then builds the `document` models from them.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, field_validator

from mailer.addresses import email_problem
from mailer.i18n import _
from mailer.textcheck import control_char, describe_char

TOKYO = ZoneInfo("Asia/Tokyo")

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
_URL_RE = re.compile(r"^https?://[^\s/?#]+\.[^\s/?#]+(?:[/?#]\S*)?$", re.IGNORECASE)
_LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_SCHEDULE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2})?(?:Z|[+-]\d{2}:\d{2})?$")


def is_absolute_url(url: str) -> bool:
    """True for an absolute http(s) URL with a host (the preflight warns on http)."""
    return bool(_URL_RE.match(url))


def _schedule_problem(value: object) -> str:
    return _("2026-12-01 09:00（日本時間）の形で書いてください（「{value}」）").format(value=value)


def _absolute_url(value: str) -> str:
    if not is_absolute_url(value):
        raise ValueError(_("https:// で始まる完全な URL にしてください（「{value}」）").format(
            value=value))
    return value


def _email(value: str) -> str:
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(_("メールアドレス「{value}」は{reason}").format(
            value=value, reason=email_problem(str(exc)))) from None


def _label(value: str) -> str:
    if not _LABEL_RE.match(value):
        raise ValueError(_("半角英数字と - _ で書いてください（例：part1）：「{value}」").format(
            value=value))
    return value


def _one_line(value: str) -> str:
    # A subject becomes a mail header: a CR or LF in it would start a header of
    # its own (Bcc:), and a title or label is shown on one line everywhere.
    bad = control_char(value)
    if bad is not None:
        raise ValueError(_("制御文字 {char} は使えません"
                           "（改行やタブを含まない 1 行で書いてください）").format(
            char=describe_char(bad)))
    return value


def parse_schedule(value: str) -> datetime:
    """Return "2026-12-01 09:00" as an aware datetime in Asia/Tokyo.

    An explicit offset (2026-12-01T00:00+00:00) is honoured and converted.
    Raises ValueError for anything else.
    """
    text = value.strip()
    if not _SCHEDULE_RE.match(text):
        raise ValueError(_schedule_problem(value))
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(_("日時「{value}」が正しくありません").format(value=value)) from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=TOKYO)
    return parsed.astimezone(TOKYO)


#: text shown on one line (a subject, a title, a label): no control characters
OneLine = Annotated[Text, AfterValidator(_one_line)]
Url = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_absolute_url)]
Email = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_email)]
Label = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_one_line),
                  AfterValidator(_label)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PublisherIn(_Strict):
    name: Text
    address: Text
    contact_email: Email
    contact_phone: Text | None = None
    url: Url | None = None


class BackNumberIn(_Strict):
    number: OneLine
    title: OneLine
    url: Url


class IssueFileIn(_Strict):
    """`issue.yaml`."""

    number: int
    title: OneLine
    series: OneLine
    publisher: PublisherIn
    back_numbers: list[BackNumberIn] = []


class FrontMatterIn(_Strict):
    """A part file's front matter."""

    label: Label
    title: OneLine
    subject: OneLine
    preheader: Annotated[str, AfterValidator(_one_line)] = ""
    scheduled_at: datetime | None = None

    @field_validator("scheduled_at", mode="before")
    @classmethod
    def _schedule(cls, value: object) -> object:
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError(_schedule_problem(value))
        return parse_schedule(value)
