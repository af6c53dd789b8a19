"""ServiceError → HTTP status, in one place for the API and the admin pages."""

from __future__ import annotations

from mailer.services.errors import ErrorKind, ServiceError

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


def status_of(exc: ServiceError) -> int:
    """Return the HTTP status that answers `exc`."""
    return HTTP_STATUS[exc.kind]
