"""`create_app(settings)`: the public web app.

Everything the routes need is built here from Settings and kept on
`app.state.web` (see `state.WebState`); nothing reads the environment.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import redis
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from mailer.db import make_engine
from mailer.i18n import _
from mailer.runtime import render_config
from mailer.settings import Settings
from mailer.web.admin.install import install as install_admin
from mailer.web.admin_auth.install import install as install_auth
from mailer.web.body_limits import BodyLimitMiddleware
from mailer.web.ids import ids_in_range
from mailer.web.pages import message_page, not_found, page_environment
from mailer.web.routes import archive, assets, health, metrics, preferences, unsubscribe
from mailer.web.security import security_headers_middleware
from mailer.web.state import WebState


def _redis(settings: Settings) -> redis.Redis | None:
    if not settings.redis_url:
        return None
    # Short timeouts: a readiness probe must answer quickly, even when Redis does not.
    return redis.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)


def create_app(settings: Settings, *, demo_outbox: Path | None = None) -> FastAPI:
    """Return the web app for `settings` (its own engine and Redis client,
    closed when the app shuts down). `demo_outbox`: the demo's SMTP sink
    folder, whose mail the dashboard then lists (`mailer demo --serve`)."""
    state = WebState(
        settings=settings,
        engine=make_engine(settings.effective_database_url),
        pages=page_environment(site_name=settings.list_name),
        render_config=render_config(settings),
        redis=_redis(settings),
        demo_outbox=demo_outbox,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            state.engine.dispose()
            if state.redis is not None:
                state.redis.close()

    app = FastAPI(title="mailer", docs_url=None, redoc_url=None, openapi_url="/api/openapi.json",
                  lifespan=lifespan, dependencies=[Depends(ids_in_range)])
    app.state.web = state
    app.add_middleware(BodyLimitMiddleware)  # inside the security headers: its refusals get them
    app.middleware("http")(security_headers_middleware(settings.base_url))
    for module in (health, metrics, archive, assets, unsubscribe, preferences):
        app.include_router(module.router)
    install_auth(app)  # /admin/login, /admin/audit, and the AuthError handler

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            response = not_found(state.pages)
        elif exc.status_code == 405:
            response = message_page(state.pages, status_code=405, title=_("この操作はできません"),
                                    lines=[_("このページではその操作を受け付けていません。")])
        else:
            response = message_page(state.pages, status_code=exc.status_code,
                                    title=_("エラーが発生しました"),
                                    lines=[_("リクエストを処理できませんでした。")])
        response.headers.update(exc.headers or {})  # e.g. Allow on a 405
        return response

    @app.exception_handler(Exception)
    async def server_error(_request: Request, _exc: Exception) -> HTMLResponse:
        # Starlette still logs the traceback; the reader gets a page in Japanese.
        return message_page(state.pages, status_code=500, title=_("ただいま表示できません"),
                            lines=[_("システムで問題が発生しました。しばらくしてから、"
                                     "もう一度お試しください。")])

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, _exc: RequestValidationError) -> HTMLResponse:
        return message_page(state.pages, status_code=400, title=_("リクエストが正しくありません"),
                            lines=[_("URLや入力内容をご確認ください。")])

    install_admin(app)  # /admin pages, /api/v1 and its JSON errors (wraps the handlers above)
    return app
