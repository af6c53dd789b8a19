"""The REST API under /api/v1: bearer tokens (`require`), pydantic models,
JSON errors `{"detail": message, "field": name | null}`.

The OpenAPI document is at /api/openapi.json.
"""

from __future__ import annotations

import warnings
from typing import Any

from fastapi import APIRouter, FastAPI

from mailer.web.api import issues, parts, people, sends, subscriber_edit
from mailer.web.api.errors import install_error_handlers

router = APIRouter(prefix="/api/v1")
for _module in (issues, parts, sends, subscriber_edit, people):
    router.include_router(_module.router)


def install(app: FastAPI) -> None:
    """Add the API routes and its JSON error handlers to `app`."""
    app.include_router(router)
    install_error_handlers(app)

    full_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        # The document describes the API only, not the HTML pages of the same app.
        if app.openapi_schema is None:
            with warnings.catch_warnings():
                # GET+HEAD page routes share operation ids; they are dropped below anyway
                warnings.filterwarnings("ignore", "Duplicate Operation ID", UserWarning)
                doc = full_openapi()
            doc["paths"] = {p: v for p, v in doc["paths"].items() if p.startswith("/api/v1/")}
            doc["info"] = {"title": "mailer API", "version": "1", "description": (
                "Bearer tokens (`mailer tokens create`); errors are "
                '`{"detail": message, "field": name | null}`.')}
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
