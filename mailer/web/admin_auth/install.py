"""Registering this package's routes and handlers on the app."""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Add the login/logout and audit routes, the AuthError handler, and the
    login-failure store (Redis when the app has a client) to `app`."""
    from mailer.web.admin_auth import audit, routes
    from mailer.web.admin_auth.errors import auth_error
    from mailer.web.admin_auth.store import MemoryAuthStore, RedisAuthStore
    from mailer.web.auth import AuthError
    from mailer.web.state import WebState

    state: WebState = app.state.web
    app.state.auth_store = (RedisAuthStore(state.redis) if state.redis is not None
                            else MemoryAuthStore())
    app.add_exception_handler(AuthError, auth_error)
    app.include_router(routes.router)
    app.include_router(audit.router)
