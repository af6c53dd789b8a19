"""The one error type of the use-case layer.

Every service function that refuses a request raises `ServiceError` with a
`kind` (what sort of refusal) and, when one request field is at fault, its
`field`. The message is written for the person who asked, in Japanese. Each
door translates the kind once: the web in `mailer.web.errors`, the CLI in
`mailer.cli.common.fail_service`.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    INVALID = "invalid"  # a value is wrong (names `field`)
    UNREADABLE = "unreadable"  # the input cannot be read at all (a broken file)
    NOT_FOUND = "not_found"  # the thing asked about does not exist
    CONFLICT = "conflict"  # the thing's state does not allow it now
    FORBIDDEN = "forbidden"  # this person may not (e.g. the four-eyes rule)
    GONE = "gone"  # it existed but has expired or been used
    TOO_LARGE = "too_large"  # the input is over a size limit
    UNAVAILABLE = "unavailable"  # a needed service or setting is missing


class ServiceError(Exception):
    """A request the use-case layer refuses; `message` says why, in Japanese."""

    def __init__(self, message: str, *, kind: ErrorKind = ErrorKind.CONFLICT,
                 field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.field = field


def not_found(message: str) -> ServiceError:
    return ServiceError(message, kind=ErrorKind.NOT_FOUND)


def invalid(message: str, field: str | None = None) -> ServiceError:
    return ServiceError(message, kind=ErrorKind.INVALID, field=field)
