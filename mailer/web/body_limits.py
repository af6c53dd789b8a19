"""Request bodies: a size limit per route, enforced while reading, and uploads
refused before their body is read when nobody is logged in.

FastAPI parses a multipart body before any dependency runs, so an anonymous
40 MB POST to an upload route used to be received whole before its 401, and the
upload limits (`issue_upload.MAX_ZIP_BYTES`, `importer.MAX_FILE_BYTES`) were
checked only afterwards. This is a small pure-ASGI middleware because neither
uvicorn nor Starlette has a per-route body limit (uvicorn has none at all;
Starlette's `max_part_size` covers one form field, not the body): it refuses a
declared `Content-Length` over the route's limit at once, counts the bytes of a
chunked body as they arrive, and, for the upload routes, asks the same
`current_principal` the routes use before reading a byte (the answer is cached
on the request, so the route does not ask twice).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mailer.compose.images import MAX_IMAGE_BYTES
from mailer.i18n import N_, _
from mailer.services.docx_import import MAX_DOCX_BYTES
from mailer.services.importer import MAX_FILE_BYTES
from mailer.services.issue_upload import MAX_ZIP_BYTES

MB = 1024 * 1024
#: what a multipart envelope (boundaries, headers, the CSRF field) adds to a file
FORM_OVERHEAD = 1 * MB
LOGIN_FIRST = N_("ログインが必要です。ログインしてから送信してください。")
UNAVAILABLE = N_("ただいまログインを確認できません（Redis が応答しません）。"
                  "しばらくしてからお試しください。")
#: any other request body: forms and JSON are small
DEFAULT_LIMIT = 1 * MB


@dataclass(frozen=True)
class BodyRule:
    """The largest body `method` `path` accepts, and whether it needs a login first."""

    method: str
    path: re.Pattern[str]
    limit: int
    login_first: bool = False


RULES: tuple[BodyRule, ...] = (
    BodyRule("POST", re.compile(r"/(admin|api/v1)/issues"), MAX_ZIP_BYTES + FORM_OVERHEAD,
             login_first=True),
    BodyRule("POST", re.compile(r"/(admin|api/v1)/subscribers/import"),
             MAX_FILE_BYTES + FORM_OVERHEAD, login_first=True),
    BodyRule("POST", re.compile(r"/admin/login"), 64 * 1024),
    # a Word manuscript becomes a browser draft
    BodyRule("POST", re.compile(r"/admin/issues/import-docx"), MAX_DOCX_BYTES + FORM_OVERHEAD,
             login_first=True),
    # the editor's form carries the images chosen in it (each at most 5 MB)
    BodyRule("POST", re.compile(r"/admin/issues/(new|[^/]+/edit|editor/preview)"),
             4 * MAX_IMAGE_BYTES + FORM_OVERHEAD, login_first=True),
)


def rule_for(method: str, path: str, rules: Sequence[BodyRule] = RULES) -> BodyRule | None:
    """Return the rule of one route, or None (the default limit, no login check)."""
    for rule in rules:
        if rule.method == method and rule.path.fullmatch(path.rstrip("/") or "/"):
            return rule
    return None


class _BodyTooLarge(Exception):
    pass


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _logged_in(scope: Scope) -> bool | None:
    """Is somebody logged in? None when that cannot be told now (Redis, which
    holds revoked sessions, does not answer)."""
    # Imported here: mailer.web.auth imports the admin auth package, which is
    # installed after this module is imported by the app factory.
    import redis

    from mailer.web.auth import AuthError, current_principal

    request = Request(scope)
    try:
        principal = await run_in_threadpool(current_principal, request)
    except AuthError:
        return False
    except redis.RedisError:
        return None
    return principal is not None


async def _refuse(scope: Scope, send: Send, status: int, message: str) -> None:
    if scope["path"].startswith("/api/"):
        body = json.dumps({"detail": message, "field": None}, ensure_ascii=False).encode()
        content_type = b"application/json"
    else:
        from mailer.web.pages import message_page  # the same page as every other refusal

        title = {401: _("ログインが必要です"), 503: _("ただいま受け付けられません")}.get(
            status, _("送信できませんでした"))
        page = message_page(scope["app"].state.web.pages, status_code=status, title=title,
                            lines=[message])
        body = bytes(page.body)
        content_type = b"text/html; charset=utf-8"
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def _too_large_message(limit: int) -> str:
    size = f"{limit // MB} MB" if limit >= MB else f"{limit // 1024} KB"
    return _("送信されたデータが大きすぎます（このページは {size} までです）。").format(size=size)


class BodyLimitMiddleware:
    """Refuse bodies over their route's limit (413) and anonymous uploads (401)
    before the application reads them."""

    def __init__(self, app: ASGIApp, *, default_limit: int = DEFAULT_LIMIT,
                 rules: Sequence[BodyRule] = RULES) -> None:
        self.app = app
        self.default_limit = default_limit
        self.rules = tuple(rules)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rule = rule_for(scope["method"], scope["path"], self.rules)
        limit = rule.limit if rule is not None else self.default_limit
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _refuse(scope, send, 413, _too_large_message(limit))
            return
        if rule is not None and rule.login_first:
            logged_in = await _logged_in(scope)
            if logged_in is None:
                await _refuse(scope, send, 503, _(UNAVAILABLE))
                return
            if not logged_in:
                await _refuse(scope, send, 401, _(LOGIN_FIRST))
                return

        received = 0
        too_large = False
        replaced = False
        app_started = False

        async def counting_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            # FastAPI turns an error while reading a form into its own 400; the
            # answer to a body over the limit is our 413 whatever the app says.
            nonlocal replaced, app_started
            if too_large and not app_started:
                if not replaced:
                    replaced = True
                    await _refuse(scope, send, 413, _too_large_message(limit))
                return
            if message["type"] == "http.response.start":
                app_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _BodyTooLarge:
            if not replaced and not app_started:
                await _refuse(scope, send, 413, _too_large_message(limit))
