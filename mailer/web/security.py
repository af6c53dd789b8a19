"""Response headers and the CSRF token of the preferences form.

Unsubscribe and preferences URLs carry a personal token, so no page may leak
its URL through a Referer header, and no page may be framed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import urlsplit

from fastapi import Request, Response
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

CSRF_SALT = "preferences-csrf"
CSRF_MAX_AGE = 2 * 3600  # seconds a preferences form stays valid
HSTS_MAX_AGE = 365 * 24 * 3600


def csrf_token(secrets: Sequence[str], *, subscriber_id: int) -> str:
    """Return a signed, timestamped token for the preferences form of one subscriber."""
    return URLSafeTimedSerializer(list(secrets), salt=CSRF_SALT).dumps(subscriber_id)


def check_csrf_token(secrets: Sequence[str], token: str, *, subscriber_id: int) -> bool:
    """Return True if `token` was issued by us for this subscriber within CSRF_MAX_AGE."""
    try:
        value = URLSafeTimedSerializer(list(secrets), salt=CSRF_SALT).loads(
            token, max_age=CSRF_MAX_AGE
        )
    except (SignatureExpired, BadSignature, ValueError, TypeError):
        return False
    return isinstance(value, int) and value == subscriber_id


def content_security_policy(base_url: str) -> str:
    # Images are referenced by absolute URL under base_url, which may differ
    # from the host the browser used (e.g. behind a proxy during a migration).
    parts = urlsplit(base_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    return (
        f"default-src 'none'; img-src 'self' {origin}; style-src 'unsafe-inline'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )


def security_headers_middleware(
    base_url: str,
) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    """Return an HTTP middleware adding the headers every response should carry.

    With an https base URL, browsers are told to use https only (HSTS, a year;
    not `includeSubDomains`: other hosts of the organisation's domain are not
    ours to decide for). API answers carry people's data and are never
    cached (`no-store`, unless a route chose otherwise); admin and personal
    pages set it themselves.
    """
    csp = content_security_policy(base_url)
    hsts = urlsplit(base_url).scheme == "https"

    async def add_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if response.headers.get("content-type", "").startswith("text/html"):
            response.headers.setdefault("Content-Security-Policy", csp)
        if hsts:
            response.headers.setdefault("Strict-Transport-Security", f"max-age={HSTS_MAX_AGE}")
        if request.url.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    return add_headers
