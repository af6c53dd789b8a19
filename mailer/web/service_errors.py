"""ServiceError → HTTP status, in one place for the API and the admin pages;
and → the words staff read, in one place for every admin page."""

from __future__ import annotations

import re

from mailer.i18n import N_, _
from mailer.services.errors import ErrorKind, ServiceError
from mailer.services.subscriber_fields import FIELDS

HTTP_STATUS: dict[ErrorKind, int] = {
    ErrorKind.INVALID: 422,
    ErrorKind.UNREADABLE: 400,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.GONE: 410,
    ErrorKind.TOO_LARGE: 413,
    ErrorKind.UNAVAILABLE: 503,
}

#: the admin's names for the request fields a refusal may start with: "at: …"
#: reads "配信日時：…" on every admin page (the API and the CLI keep the field
#: names they accept). Subscriber fields come from their one declaration.
FIELD_LABELS: dict[str, str] = {
    "at": N_("配信日時"),
    "lists": N_("リスト"),
    "list": N_("リスト"),
    "overlap": N_("すでに受け取った人"),
    "part_id": N_("パート"),
    "send_id": N_("配信"),
    "to": N_("宛先"),
    "file": N_("ファイル"),
    "email": N_("メールアドレス"),
    "confirm": N_("確認"),
    "token": N_("確認"),
    **{f.name: f.label for f in FIELDS},
}
_LEADING_KEY = re.compile(r"([a-z][a-z0-9_]*): ")


def status_of(exc: ServiceError) -> int:
    """Return the HTTP status that answers `exc`."""
    return HTTP_STATUS[exc.kind]


def split_field(exc: ServiceError) -> tuple[str | None, str]:
    """Return the field a refusal is about (its leading key, else its
    `field`) and the message without that key ("email: x は登録済みです" →
    ("email", "x は登録済みです")). A form that marks the field itself shows
    the rest next to it."""
    match = _LEADING_KEY.match(exc.message)
    if match is not None and (match.group(1) in FIELD_LABELS or match.group(1) == exc.field):
        return match.group(1), exc.message[match.end():]
    return exc.field, exc.message


def staff_message(exc: ServiceError) -> str:
    """Return the refusal as staff read it on an admin page: a leading field
    key ("email: …") becomes the field's label ("メールアドレス：…"), or is
    dropped when it has none. Staff never see an ASCII field key."""
    field, rest = split_field(exc)
    if rest == exc.message or field not in FIELD_LABELS:
        return rest
    return _("{field}：{message}").format(field=_(FIELD_LABELS[field]), message=rest)
