"""Rendering AuthError: JSON under /api, a login redirect or a Japanese page elsewhere."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from mailer.i18n import _
from mailer.web.auth import AuthError, is_api
from mailer.web.pages import message_page
from mailer.web.state import WebState

LOGIN_PATH = "/admin/login"


def login_url(request: Request) -> str:
    """Return the login page URL that brings the user back to this page afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"{LOGIN_PATH}?next={quote(target, safe='')}"


async def auth_error(request: Request, exc: Exception) -> Response:
    """Render an AuthError: JSON `{"detail", "field": null}` under /api; a 303 to the
    login page or a Japanese page elsewhere."""
    assert isinstance(exc, AuthError)
    headers = dict(exc.headers or {})
    if is_api(request):
        if exc.status_code == 401:
            headers.setdefault("WWW-Authenticate", "Bearer")
        return JSONResponse({"detail": exc.detail, "field": None},
                            status_code=exc.status_code, headers=headers)
    if exc.login_redirect:
        return RedirectResponse(login_url(request), status_code=303, headers=headers)
    state: WebState = request.app.state.web
    title = exc.title or (_("権限がありません") if exc.status_code == 403
                          else _("エラーが発生しました"))
    response = message_page(state.pages, status_code=exc.status_code, title=title,
                            lines=[str(exc.detail)], private=True)
    response.headers.update(headers)
    return response
