"""Liveness and readiness probes (JSON, for load balancers and orchestrators)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from mailer.db import has_schema
from mailer.web.routes import READ
from mailer.web.state import Web

router = APIRouter(tags=["health"])


@router.api_route("/healthz", methods=READ)
def healthz() -> dict[str, str]:
    """The process answers; nothing else is checked."""
    return {"status": "ok"}


@router.api_route("/readyz", methods=READ)
def readyz(web: Web) -> JSONResponse:
    """200 if the database answers and has the schema (and Redis answers,
    when configured), else 503
    with `failed` naming each dependency that did not."""
    checks: dict[str, str] = {}
    try:
        with web.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        # A database without the tables answers but cannot serve a page.
        checks["database"] = "ok" if has_schema(web.engine) else "no schema (mailer db upgrade)"
    except Exception as exc:  # any failure means "not ready", whatever its kind
        checks["database"] = type(exc).__name__
    if web.redis is not None:
        try:
            web.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = type(exc).__name__
    failed = sorted(name for name, result in checks.items() if result != "ok")
    body = {"status": "unavailable" if failed else "ok", "checks": checks, "failed": failed}
    return JSONResponse(body, status_code=503 if failed else 200)
