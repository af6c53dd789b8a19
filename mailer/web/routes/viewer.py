"""Who is asking at a public route, as the publish gate sees them."""

from __future__ import annotations

import redis
from fastapi import Request

from mailer.services.publication import ANYONE, Viewer
from mailer.web.auth import AuthError, current_principal


def viewer_of(request: Request) -> Viewer:
    """Return the staff viewer for a signed-in staff member (session cookie, or
    an API token), else ANYONE. A bad token on a public page counts as nobody
    rather than an error: the public pages never ask for one. Nor does Redis
    being down (revoked sessions live there): staff then see what the public
    sees, not an error page."""
    try:
        principal = current_principal(request)
    except (AuthError, redis.RedisError):
        return ANYONE
    if principal is None or not principal.roles:
        return ANYONE
    return Viewer(staff=True)
