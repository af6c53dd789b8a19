"""What every request handler needs, built once per app from Settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import jinja2
import redis
from fastapi import Depends, Request
from sqlalchemy import Engine

from mailer.render.message import RenderConfig
from mailer.samples import SAMPLES_DIR
from mailer.settings import Settings


@dataclass(frozen=True)
class WebState:
    """The app's long-lived objects (no module globals: tests build several apps)."""

    settings: Settings
    engine: Engine
    pages: jinja2.Environment
    render_config: RenderConfig
    redis: redis.Redis | None
    #: issue folders images are served from (`{assets_root}/{slug}/…`)
    assets_root: Path = SAMPLES_DIR / "issues"
    #: `mailer demo --serve` only: the SMTP sink's folder, listed on the dashboard
    demo_outbox: Path | None = None


def get_state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


Web = Annotated[WebState, Depends(get_state)]
