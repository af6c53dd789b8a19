"""Fixtures for delivery tests: a running stack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from mailer.testing.stack import Stack


@pytest.fixture
def stack(database_url: str, redis_url: str, engine: Engine, tmp_path: Path) -> Iterator[Stack]:
    s = Stack(database_url=database_url, redis_url=redis_url, workdir=tmp_path, engine=engine)
    s.flush_redis()
    try:
        yield s
    finally:
        s.stop()
        s.flush_redis()
