"""Who is asking, and may they: the auth layer of the admin pages and the REST API.

Routes declare what they need with a dependency::

    @router.get("/admin/sends")
    def sends(p: Principal = Depends(require(UserRole.VIEWER))) -> ...

`require` accepts a signed session cookie (`mailer_session`, set by
`/admin/login`) or an `Authorization: Bearer <token>` header (API tokens made
with `mailer tokens create`). Refusals are raised as `AuthError`, which the
handler installed by `mailer.web.admin_auth.install` turns into JSON under
`/api` and into a redirect to the login page or a Japanese page elsewhere.

Role semantics: `admin` implies every role; every role implies `viewer`;
several roles given to `require` mean "any one of them".
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from mailer.i18n import _
from mailer.models import User, UserRole
from mailer.services.accounts import parse_roles
from mailer.services.actors import Actor
from mailer.services.sign_in import token_holder
from mailer.web.admin_auth.sessions import (
    SESSION_COOKIE,
    SESSION_LIFETIME,
    read_session_cookie,
)
from mailer.web.admin_auth.store import auth_store

__all__ = [
    "AuthError",
    "Principal",
    "csrf_token",
    "parse_roles",
    "require",
    "verify_csrf",
]

CSRF_COOKIE = "mailer_csrf"  # before login: the value the login form's token is bound to
CSRF_SALT = "admin-csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Principal:
    """The person (or token) behind a request."""

    actor: str  # user email, or "token:<name>"
    user_id: int | None
    roles: frozenset[UserRole]  # UserRole.ADMIN implies every role
    via: Literal["session", "token"]
    #: the session id (None for tokens): binds CSRF tokens to one login
    session_id: str | None = None

    def as_actor(self) -> Actor:
        """Return the person behind this request, as the services know them."""
        return Actor(name=self.actor, user_id=self.user_id, door=self.via)

    def has(self, role: UserRole) -> bool:
        """Return True if this principal holds `role` (admin holds all; any role can view)."""
        if UserRole.ADMIN in self.roles or role in self.roles:
            return True
        return role is UserRole.VIEWER and bool(self.roles)


class AuthError(StarletteHTTPException):
    """A refused request: 401 (not logged in), 403 (no role / bad CSRF), 429, 503.

    `login_redirect` asks the handler to send a page request to the login page.
    """

    def __init__(self, status_code: int, detail: str, *, login_redirect: bool = False,
                 title: str = "", headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code=status_code, detail=detail, headers=headers)
        self.login_redirect = login_redirect
        self.title = title


def is_api(request: Request) -> bool:
    path = request.url.path
    return path == "/api" or path.startswith("/api/")


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.web.engine
    return engine


def _session_key(request: Request) -> str:
    """The key that signs and verifies sessions and CSRF tokens: the current one
    only (MAILER_OLD_SECRET_KEYS are for links in mail already sent)."""
    key: str = request.app.state.web.settings.secret_key
    return key


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _sep, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise AuthError(401, _("Authorization ヘッダーの形式が正しくありません"
                               "（Bearer トークン）。"))
    return value.strip()


def _from_token(request: Request, token: str) -> Principal:
    holder = token_holder(engine=_engine(request), token=token)
    if holder is None:
        raise AuthError(401, _("トークンが無効です。"))
    return Principal(actor=f"token:{holder.token_name}", user_id=holder.user_id,
                     roles=holder.roles, via="token")


def _from_session(request: Request) -> Principal | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    data = read_session_cookie(_session_key(request), cookie)
    if data is None or auth_store(request).is_revoked(data.session_id):
        return None
    with Session(_engine(request)) as session:
        user = session.get(User, data.user_id)
        if user is None or not user.active or user.session_epoch != data.epoch:
            return None
        return Principal(actor=user.email, user_id=user.id, roles=parse_roles(user.roles),
                         via="session", session_id=data.session_id)


def current_principal(request: Request) -> Principal | None:
    """Return who is logged in (session or bearer token), or None; cached per request.

    Raises AuthError(401) for a malformed or invalid bearer token.
    """
    if "principal" in request.state._state:
        cached: Principal | None = request.state.principal
        return cached
    token = _bearer(request)
    principal = _from_token(request, token) if token is not None else _from_session(request)
    request.state.principal = principal
    return principal


def require(*roles: UserRole) -> Callable[..., Awaitable[Principal]]:
    """Return a FastAPI dependency yielding the Principal holding any one of `roles`
    (no roles: any logged-in user).

    Raises AuthError: 401 (JSON under /api; a 303 to /admin/login?next=… for
    pages) when nobody is logged in, 403 without the role, and 403 for a
    cookie-authenticated unsafe /api request without a valid X-CSRF-Token.
    """
    wanted = frozenset(roles)

    async def dependency(request: Request) -> Principal:
        principal = current_principal(request)
        if principal is None:
            raise AuthError(401, _("ログインが必要です。"), login_redirect=not is_api(request))
        if wanted and not any(principal.has(r) for r in wanted):
            raise AuthError(403, _("この操作を行う権限がありません。"), title=_("権限がありません"))
        if (principal.via == "session" and is_api(request)
                and request.method in UNSAFE_METHODS
                and not _csrf_ok(request, request.headers.get(CSRF_HEADER))):
            raise AuthError(403, _("CSRF トークンがないか、正しくありません。"))
        return principal

    dependency.__name__ = f"require_{'_'.join(r.value for r in roles) or 'login'}"
    return dependency


# -- CSRF ----------------------------------------------------------------------------


def _csrf_binding(request: Request) -> str:
    """Return what this browser's CSRF tokens are bound to: the session id once logged
    in, else the pre-login `mailer_csrf` cookie (a fresh value, to be set, if absent)."""
    principal = current_principal(request) if request.headers.get("authorization") is None \
        else None
    if principal is not None and principal.session_id:
        return "s:" + principal.session_id
    seed = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf_seed", None)
    if not seed:
        seed = secrets.token_urlsafe(24)
        request.state.new_csrf_seed = seed  # the login page sets it as a cookie
    return "c:" + seed


def csrf_token(request: Request) -> str:
    """Return the value for `<input type="hidden" name="csrf_token">` in an admin form."""
    return URLSafeTimedSerializer(_session_key(request), salt=CSRF_SALT).dumps(
        _csrf_binding(request))


def _csrf_ok(request: Request, token: Any) -> bool:
    if not isinstance(token, str) or not token:
        return False
    try:
        value = URLSafeTimedSerializer(_session_key(request), salt=CSRF_SALT).loads(
            token, max_age=int(SESSION_LIFETIME.total_seconds()))
    except (BadSignature, ValueError, TypeError):
        return False
    binding = _csrf_binding(request)
    return isinstance(value, str) and hmac.compare_digest(value, binding)


async def verify_csrf(request: Request) -> None:
    """FastAPI dependency for every admin POST form: checks the `csrf_token` field
    (or the X-CSRF-Token header). Requests carrying a bearer token are exempt
    (a browser never adds that header cross-site).

    Raises AuthError(403) when the token is missing, forged, expired, or from
    another session.
    """
    if request.headers.get("authorization"):
        return
    token: Any = request.headers.get(CSRF_HEADER)
    if not token:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            token = (await request.form()).get(CSRF_FIELD)
    if not _csrf_ok(request, token):
        raise AuthError(403, _("フォームの有効期限が切れたか、別のページから送信されました。"
                          "ページを開き直してもう一度お試しください。"),
                        title=_("送信を受け付けられませんでした"))
