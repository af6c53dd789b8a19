"""Fixtures for the web app: a real uvicorn server on a free port, real databases."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine
from web_support import SECRET, Seeded, make_settings, publish_all, seed_web, serve

from mailer.settings import Settings


@pytest.fixture
def seeded(engine: Engine) -> Seeded:
    """The sample issue and three subscribers (one also on a second list)."""
    return seed_web(engine)


@pytest.fixture
def published(engine: Engine, seeded: Seeded) -> Seeded:
    """The seeded sample issue with every part published (the archive, the
    feed and the images are public only then)."""
    publish_all(engine)
    return seeded


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, secret_key=SECRET)


@pytest.fixture
def live_url(settings: Settings, seeded: Seeded) -> Iterator[str]:
    """The base URL of a running app on the seeded database."""
    with serve(settings) as url:
        yield url


@pytest.fixture
def client(live_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_url, timeout=10) as c:
        yield c
