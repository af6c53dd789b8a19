"""The admin session cookie: an itsdangerous-signed [user id, epoch, session id, issued-at].

Nothing is stored server-side except revocations (see `store`): the cookie is
valid while its signature checks, it is younger than SESSION_LIFETIME, its
session id was not logged out, and its epoch equals the user's
`session_epoch` (raised by "log out everywhere" and by disabling a user).

Only the current MAILER_SECRET_KEY signs and verifies sessions: a key is
retired because it may have leaked, and whoever holds it must not be able to
forge a session (retired keys keep verifying unsubscribe links only).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Response
from itsdangerous import BadSignature, URLSafeSerializer

SESSION_COOKIE = "mailer_session"
SESSION_SALT = "admin-session"
SESSION_LIFETIME = timedelta(hours=12)


@dataclass(frozen=True)
class SessionData:
    user_id: int
    epoch: int
    session_id: str
    issued_at: int  # Unix seconds


def new_session(*, user_id: int, epoch: int, now: float | None = None) -> SessionData:
    """Return a session with a fresh random id (a new one on every login: no fixation)."""
    issued = int(time.time() if now is None else now)
    return SessionData(user_id=user_id, epoch=epoch, session_id=secrets.token_urlsafe(18),
                       issued_at=issued)


def session_cookie_value(key: str, data: SessionData) -> str:
    """Return the cookie value for `data`, signed with `key` (the current secret key)."""
    return URLSafeSerializer(key, salt=SESSION_SALT).dumps(
        [data.user_id, data.epoch, data.session_id, data.issued_at])


def read_session_cookie(key: str, value: str, *,
                        now: float | None = None) -> SessionData | None:
    """Return the session in a cookie signed with `key`, or None if forged (or
    signed with another key), malformed or expired."""
    try:
        raw = URLSafeSerializer(key, salt=SESSION_SALT).loads(value)
    except (BadSignature, ValueError, TypeError):
        return None
    if not (isinstance(raw, list) and len(raw) == 4):
        return None
    user_id, epoch, session_id, issued = raw
    if not (isinstance(user_id, int) and isinstance(epoch, int)
            and isinstance(session_id, str) and isinstance(issued, int)):
        return None
    age = (time.time() if now is None else now) - issued
    if age < -60 or age > SESSION_LIFETIME.total_seconds():
        return None
    return SessionData(user_id=user_id, epoch=epoch, session_id=session_id, issued_at=issued)


def set_session_cookie(response: Response, key: str, data: SessionData, *,
                       secure: bool) -> None:
    response.set_cookie(
        SESSION_COOKIE, session_cookie_value(key, data),
        max_age=int(SESSION_LIFETIME.total_seconds()), path="/", httponly=True,
        samesite="lax", secure=secure,
    )


def clear_session_cookie(response: Response, *, secure: bool) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=secure)


def remaining_seconds(data: SessionData, *, now: float | None = None) -> int:
    """Return how long the session has left (revocations are kept that long)."""
    left = data.issued_at + SESSION_LIFETIME.total_seconds() - (time.time() if now is None
                                                                  else now)
    return max(int(left), 1)
