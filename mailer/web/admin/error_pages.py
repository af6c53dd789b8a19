"""Error pages under /admin in the admin's own layout (its menu, who is
signed in), in Japanese: an unknown address (404), a method the address does
not take (405) and a missing role (403). Elsewhere the public pages answer;
/api keeps its JSON (its handlers wrap these)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from mailer.i18n import N_, _
from mailer.web.admin.common import admin_message
from mailer.web.auth import AuthError, Principal, current_principal

Handler = Callable[[Request, Any], Awaitable[Response]]

#: status -> (title, line) of an admin error page
PAGES: dict[int, tuple[str, str]] = {
    403: (N_("権限がありません"), N_("このページや操作には、あなたの役割では入れません。")),
    404: (N_("ページが見つかりません"), N_("アドレスが正しいか確かめてください。")),
    405: (N_("この操作はできません"), N_("このページではその操作を受け付けていません。")),
}


def _is_admin_page(request: Request) -> bool:
    path = request.url.path
    return path == "/admin" or path.startswith("/admin/")


def _who(request: Request) -> Principal | None:
    try:
        return current_principal(request)
    except Exception:  # a bad token or Redis down: the page without the menu
        return None


def install_error_pages(app: FastAPI) -> None:
    """Wrap the app's HTTP and AuthError handlers: under /admin, a 403, 404 or
    405 is an admin page (call before the API wraps them)."""
    handlers = app.exception_handlers

    def wrap(exc_type: type[Exception]) -> None:
        inner: Handler | None = handlers.get(exc_type)  # type: ignore[assignment]

        async def handler(request: Request, exc: Any) -> Response:
            login = isinstance(exc, AuthError) and exc.login_redirect
            if (inner is not None and (not _is_admin_page(request) or login
                                       or exc.status_code not in PAGES)):
                return await inner(request, exc)
            title, line = PAGES.get(exc.status_code, (N_("エラーが発生しました"),
                                                       N_("リクエストを処理できませんでした。")))
            title, line = _(title), _(line)
            if isinstance(exc, AuthError):  # its own words, when it has them
                title = exc.title or title
                line = str(exc.detail) if exc.detail else line
            response = admin_message(request, _who(request), status_code=exc.status_code,
                                     title=title, lines=[line], back="/admin")
            response.headers.update(dict(exc.headers or {}))
            return response

        app.add_exception_handler(exc_type, handler)

    wrap(StarletteHTTPException)
    wrap(AuthError)
