"""The REST API under /api/v1: bearer tokens (`require`), pydantic models,
JSON errors `{"detail": message, "field": name | null}`.

The OpenAPI document is at /api/openapi.json.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from mailer.web.api import issues, parts, people, sends
from mailer.web.api.errors import install_error_handlers

router = APIRouter(prefix="/api/v1")
for _module in (issues, parts, sends, people):
    router.include_router(_module.router)


def install(app: FastAPI) -> None:
    """Add the API routes and its JSON error handlers to `app`."""
    app.include_router(router)
    install_error_handlers(app)
