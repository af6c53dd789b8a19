"""Backup and restore as docs/operations.md describes them, once, against the
real PostgreSQL: pg_dump -Fc of a seeded database, pg_restore into a fresh
one, then every table's row count and the schema revision must match."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from privacy_support import build_world
from sqlalchemy import Engine, func, inspect, select, table
from sqlalchemy.engine import make_url

from mailer.db import current_revision, head_revision, make_engine, upgrade

pytestmark = [
    pytest.mark.skipif(not (shutil.which("pg_dump") and shutil.which("pg_restore")),
                       reason="pg_dump/pg_restore are not installed"),
]


class Databases:
    """Creates fresh databases on the test server; drops them all at the end."""

    def __init__(self, admin_url: str) -> None:
        self.admin = make_url(admin_url.replace("postgresql+psycopg://", "postgresql://"))
        self.names: list[str] = []

    def _admin(self, sql: str) -> None:
        import psycopg

        url = self.admin.render_as_string(hide_password=False)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql)

    def create(self) -> str:
        """Return the libpq URL of a new empty database."""
        name = f"mailer_backup_{uuid.uuid4().hex[:10]}"
        self._admin(f'CREATE DATABASE "{name}"')
        self.names.append(name)
        return self.admin.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        for name in self.names:
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def databases(pg_admin: str) -> Iterator[Databases]:
    dbs = Databases(pg_admin)
    try:
        yield dbs
    finally:
        dbs.drop_all()


def _engine(libpq_url: str) -> Engine:
    return make_engine(libpq_url.replace("postgresql://", "postgresql+psycopg://", 1))


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        names = inspect(conn).get_table_names()
        return {name: int(conn.execute(select(func.count()).select_from(table(name)))
                          .scalar_one()) for name in sorted(names)}


def _run(*args: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{args[0]} failed:\n{done.stderr}"


def test_pg_dump_and_pg_restore_round_trip(databases: Databases, tmp_path: Path) -> None:
    source_url = databases.create()
    source = _engine(source_url)
    target: Engine | None = None
    try:
        upgrade(source)
        build_world(source)  # mailer.testing.seed.seed(engine, 5) plus sends and a ledger
        counts = row_counts(source)
        assert counts["subscriber"] == 5 and counts["delivery"] == 10
        assert counts["alembic_version"] == 1

        dump = tmp_path / "mailer.dump"
        _run("pg_dump", "-Fc", "--no-owner", "-f", str(dump), "-d", source_url)
        assert dump.stat().st_size > 0

        target_url = databases.create()
        _run("pg_restore", "--no-owner", "--exit-on-error", "-d", target_url, str(dump))

        target = _engine(target_url)
        assert row_counts(target) == counts
        assert current_revision(target) == current_revision(source) == head_revision()
    finally:
        source.dispose()
        if target is not None:
            target.dispose()
