"""Login, logout and "log out everywhere" (`/admin/login`, `/admin/logout`, …).

Every failure says the same thing, whether the address is unknown, the user
disabled, or the password wrong; an account or client IP with five failures
in fifteen minutes is refused with 429 for fifteen minutes.
"""

from __future__ import annotations

from typing import Annotated

import redis
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mailer.i18n import N_, _
from mailer.services.errors import ServiceError
from mailer.services.sign_in import note_locked_out, sign_in, sign_out, sign_out_everywhere
from mailer.web.admin_auth.sessions import (
    SESSION_LIFETIME,
    clear_session_cookie,
    new_session,
    read_session_cookie,
    remaining_seconds,
    set_session_cookie,
)
from mailer.web.admin_auth.store import LOCK_SECONDS, auth_store
from mailer.web.auth import (
    CSRF_COOKIE,
    AuthError,
    Principal,
    csrf_token,
    require,
    verify_csrf,
)
from mailer.web.pages import PRIVATE_HEADERS
from mailer.web.routes import READ
from mailer.web.state import Web, WebState

router = APIRouter(tags=["admin-auth"])

HOME = "/admin"
FAILED = N_("メールアドレスまたはパスワードが正しくありません。")
LOCKED = N_("ログインの失敗が続いたため、一時的にログインできません。"
             "15分ほど待ってから、もう一度お試しください。")


def safe_next(target: str | None) -> str:
    """Return `target` if it is a path on this site, else the admin home (no open redirect)."""
    if (not target or not target.startswith("/") or target.startswith("//")
            or "\\" in target or any(ord(c) < 0x20 for c in target)):
        return HOME
    return target


def secure_cookies(web: WebState) -> bool:
    return web.settings.base_url.startswith("https://")


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _login_page(request: Request, web: WebState, *, next_url: str, email: str = "",
                error: str = "", notice: str = "", status_code: int = 200) -> HTMLResponse:
    html = web.pages.get_template("admin/auth_login.html.j2").render(
        title=_("ログイン"), csrf_token=csrf_token(request), next_url=next_url, email=email,
        error=error, notice=notice,
    )
    response = HTMLResponse(html, status_code=status_code, headers=dict(PRIVATE_HEADERS))
    seed = getattr(request.state, "new_csrf_seed", None)
    if seed:
        response.set_cookie(CSRF_COOKIE, seed, max_age=int(SESSION_LIFETIME.total_seconds()),
                            path="/admin", httponly=True, samesite="lax",
                            secure=secure_cookies(web))
    if status_code == 429:
        response.headers["Retry-After"] = str(LOCK_SECONDS)
    return response


@router.api_route("/admin/login", methods=READ)
def login_form(request: Request, web: Web, next: str = HOME, notice: str = "") -> HTMLResponse:
    """The login form (changes nothing); after a logout, a short notice."""
    return _login_page(request, web, next_url=safe_next(next),
                       notice=_("ログアウトしました。") if notice == "logged-out" else "")


@router.post("/admin/login", dependencies=[Depends(verify_csrf)])
async def login(request: Request, web: Web) -> Response:
    """Check the address and password; on success a new session cookie and a 303
    to `next`. 401 with the form on failure, 429 while locked out."""
    form = await request.form()
    email = str(form.get("email", "")).strip()[:320]
    password = str(form.get("password", ""))
    next_url = safe_next(str(form.get("next", HOME)))
    ip = client_ip(request)
    store = auth_store(request)
    try:
        if store.locked(account=email, ip=ip):
            note_locked_out(engine=web.engine, email=email, ip=ip)
            return _login_page(request, web, next_url=next_url, email=email, error=_(LOCKED),
                               status_code=429)
        signed_in = sign_in(engine=web.engine, email=email, password=password, ip=ip)
        if signed_in is None:
            store.failed(account=email, ip=ip)
            return _login_page(request, web, next_url=next_url, email=email, error=_(FAILED),
                               status_code=401)
        store.succeeded(account=email)
    except redis.RedisError:
        raise AuthError(503, _("ただいまログインできません。しばらくしてからお試しください。"),
                        title=_("ただいまログインできません")) from None
    data = new_session(user_id=signed_in.user_id, epoch=signed_in.session_epoch)
    response = RedirectResponse(next_url, status_code=303)
    set_session_cookie(response, web.settings.secret_key, data, secure=secure_cookies(web))
    response.delete_cookie(CSRF_COOKIE, path="/admin", httponly=True, samesite="lax",
                           secure=secure_cookies(web))
    return response


Actor = Annotated[Principal, Depends(require())]


@router.post("/admin/logout", dependencies=[Depends(verify_csrf)])
def logout(request: Request, web: Web, principal: Actor) -> Response:
    """End this session (its id is remembered as revoked until it would expire)."""
    data = read_session_cookie(web.settings.secret_key,
                               request.cookies.get("mailer_session", ""))
    if principal.session_id and data is not None:
        auth_store(request).revoke(principal.session_id, ttl=remaining_seconds(data))
    sign_out(engine=web.engine, actor=principal.as_actor())
    response = RedirectResponse("/admin/login?notice=logged-out", status_code=303)
    clear_session_cookie(response, secure=secure_cookies(web))
    return response


@router.post("/admin/logout-everywhere", dependencies=[Depends(verify_csrf)])
def logout_everywhere(request: Request, web: Web, principal: Actor) -> Response:
    """End every other session of this user (the epoch is raised); this browser
    gets a fresh session and is sent to the admin home."""
    if principal.user_id is None or principal.via != "session":
        raise AuthError(403, _("この操作はログイン中の画面からのみ行えます。"))
    try:
        epoch = sign_out_everywhere(engine=web.engine, actor=principal.as_actor())
    except ServiceError as exc:
        raise AuthError(403, exc.message) from None
    response = RedirectResponse(HOME, status_code=303)
    set_session_cookie(response, web.settings.secret_key,
                       new_session(user_id=principal.user_id, epoch=epoch),
                       secure=secure_cookies(web))
    return response
