"""JSON errors under /api: `{"detail": message, "field": name | null}`.

The web app renders Japanese HTML pages for errors; `install_error_handlers`
wraps its handlers so that requests under /api get JSON instead, with the
request field named for validation errors.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from mailer.i18n import N_, _
from mailer.services.errors import ServiceError
from mailer.validation_messages import japanese
from mailer.web.service_errors import status_of

log = logging.getLogger(__name__)
Handler = Callable[[Request, Any], Awaitable[Response]]
#: where a parameter came from; dropped from the field name
SOURCES = ("body", "query", "path", "header", "cookie")


def is_api(request: Request) -> bool:
    path = request.url.path
    return path == "/api" or path.startswith("/api/")


def error(status: int, detail: str, field: str | None = None,
          headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail, "field": field}, status_code=status, headers=headers)


def field_name(loc: Sequence[Any]) -> str | None:
    """Return the dotted field of a validation error's location, without its
    source ("body.lists.0" → "lists.0"); None when the whole body is at fault."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in SOURCES:
        parts = parts[1:]
    return ".".join(parts) or None


#: Starlette's own details (a route or method that does not exist), in Japanese
HTTP_DETAILS = {
    404: N_("ページが見つかりません。"),
    405: N_("この URL ではその操作を受け付けていません。"),
}


def _http_detail(exc: StarletteHTTPException) -> str:
    """The error's detail; Starlette's default English phrase becomes Japanese."""
    detail = str(exc.detail)
    if exc.status_code in HTTP_DETAILS and detail == HTTPStatus(exc.status_code).phrase:
        return _(HTTP_DETAILS[exc.status_code])
    return detail


def validation_response(exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if not errors:
        return error(422, _("リクエストが正しくありません"))
    first = errors[0]
    field = field_name(first.get("loc", ()))
    message = japanese(first)
    return error(422, f"{field}: {message}" if field else message, field)


def install_error_handlers(app: FastAPI) -> None:
    """Wrap the app's HTTP, validation and server error handlers so /api gets JSON."""
    handlers = app.exception_handlers

    def wrap(exc_type: type[BaseException] | int,
             api_handler: Callable[[Request, Any], Awaitable[Response]]) -> None:
        page_handler: Handler | None = handlers.get(exc_type)  # type: ignore[assignment]

        async def handler(request: Request, exc: Any) -> Response:
            if is_api(request) or page_handler is None:
                return await api_handler(request, exc)
            return await page_handler(request, exc)

        app.add_exception_handler(exc_type, handler)  # type: ignore[arg-type]

    async def http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        return error(exc.status_code, _http_detail(exc), headers=dict(exc.headers or {}))

    async def invalid(_request: Request, exc: RequestValidationError) -> Response:
        return validation_response(exc)

    async def action_error(_request: Request, exc: ServiceError) -> Response:
        return error(status_of(exc), exc.message, exc.field)

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("API error on %s %s", request.method, request.url.path, exc_info=exc)
        return error(500, _("サーバーで問題が発生しました。"
                             "しばらくしてから、もう一度お試しください。"))

    wrap(StarletteHTTPException, http_error)
    wrap(RequestValidationError, invalid)
    wrap(Exception, server_error)
    app.add_exception_handler(ServiceError, action_error)  # type: ignore[arg-type]
