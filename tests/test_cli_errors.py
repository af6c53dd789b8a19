"""Operational faults at the command line: one Japanese line, an exit status
of its own, no traceback unless `--debug`, and a mistyped database is refused
(never created). The database and Redis are real: a port nothing listens on,
a SQLite path that does not exist, a fresh database without the schema."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect
from typer.testing import CliRunner

from mailer.cli import app
from mailer.cli.errors import EXIT_NO_SCHEMA, EXIT_UNAVAILABLE
from mailer.db import make_engine
from mailer.samples import SAMPLE_ISSUE_DIR

MAILER = str(Path(sys.executable).with_name("mailer"))
PASSWORD = "hunter2-do-not-show"

#: commands from several sub-apps: the translation is one place, not per command
DB_COMMANDS = [
    ["lists", "show"],
    ["status", "1"],
    ["users", "list"],
    ["privacy", "compact"],
    ["part", "check", "1"],
    ["issue", "load", str(SAMPLE_ISSUE_DIR)],
]


@pytest.fixture
def unused_port() -> Iterator[int]:
    """A port bound but not listening: connections are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The process environment without MAILER_* settings, run from an empty folder."""
    for key in list(os.environ):
        if key.startswith("MAILER_") and not key.startswith("MAILER_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}


def mailer(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MAILER, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def invoke(*args: str) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output, result.exception


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


# -- a service that is down ----------------------------------------------------


def test_postgresql_down_is_one_line_with_the_address_and_exit_69(
    clean_env: dict[str, str], unused_port: int
) -> None:
    url = f"postgresql://mailer:{PASSWORD}@127.0.0.1:{unused_port}/mailer"
    run = mailer({**clean_env, "MAILER_DATABASE_URL": url}, "lists", "show")
    assert run.returncode == EXIT_UNAVAILABLE
    assert run.stdout == ""
    line = one_line(run.stderr)
    assert "データベースに接続できません" in line
    assert f"127.0.0.1:{unused_port}" in line
    assert "mailer:***@" in line and PASSWORD not in line
    assert "Traceback" not in run.stderr


def test_debug_shows_the_traceback(clean_env: dict[str, str], unused_port: int) -> None:
    url = f"postgresql://mailer:{PASSWORD}@127.0.0.1:{unused_port}/mailer"
    run = mailer({**clean_env, "MAILER_DATABASE_URL": url}, "--debug", "lists", "show")
    assert run.returncode not in (0, EXIT_UNAVAILABLE)
    assert "Traceback" in run.stderr and "OperationalError" in run.stderr


@pytest.mark.parametrize("args", DB_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_every_command_says_the_same_line_when_postgresql_is_down(
    clean_env: dict[str, str],
    unused_port: int,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
) -> None:
    monkeypatch.setenv(
        "MAILER_DATABASE_URL", f"postgresql://mailer:{PASSWORD}@127.0.0.1:{unused_port}/m"
    )
    code, output, _ = invoke(*args)
    assert code == EXIT_UNAVAILABLE, output
    line = one_line(output)
    assert f"127.0.0.1:{unused_port}" in line and PASSWORD not in line


@pytest.mark.parametrize("command", ["worker", "beat"])
def test_redis_down_at_start_is_one_line_with_the_address_and_exit_69(
    clean_env: dict[str, str], unused_port: int, tmp_path: Path, command: str
) -> None:
    env = {
        **clean_env,
        "MAILER_DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}",
        "MAILER_REDIS_URL": f"redis://:{PASSWORD}@127.0.0.1:{unused_port}/0",
    }
    run = mailer(env, command)
    assert run.returncode == EXIT_UNAVAILABLE, run.stdout + run.stderr
    line = one_line(run.stderr)
    assert "Redis に接続できません" in line and f"127.0.0.1:{unused_port}" in line
    assert PASSWORD not in run.stderr + run.stdout


def test_a_usage_error_keeps_its_own_status(clean_env: dict[str, str]) -> None:
    code, _, _ = invoke("lists", "shw")
    assert code == 2


# -- a database without the schema ----------------------------------------------


@pytest.mark.parametrize("args", DB_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_a_mistyped_sqlite_path_is_refused_and_never_created(
    clean_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    path = tmp_path / "typo" / "mailr.db"
    monkeypatch.setenv("MAILER_DATABASE_URL", f"sqlite:///{path}")
    code, output, _ = invoke(*args)
    assert code == EXIT_NO_SCHEMA, output
    line = one_line(output)
    assert str(path) in line and "mailer db upgrade" in line
    assert not path.parent.exists()


def test_a_database_without_the_schema_is_refused_until_db_upgrade(
    clean_env: dict[str, str], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if database_url.startswith("sqlite"):  # an empty file, as `sqlite3 x.db ''` leaves
        make_engine(database_url).connect().close()
    monkeypatch.setenv("MAILER_DATABASE_URL", database_url)
    code, output, _ = invoke("lists", "show")
    assert code == EXIT_NO_SCHEMA, output
    assert "mailer db upgrade" in one_line(output)
    assert inspect(make_engine(database_url)).get_table_names() == []  # nothing created

    code, output, _ = invoke("db", "upgrade")
    assert code == 0, output
    code, output, _ = invoke("lists", "show")
    assert code == 0, output


@pytest.mark.parametrize("command", ["worker", "web"])
def test_worker_and_web_refuse_a_mistyped_sqlite_path(
    clean_env: dict[str, str], tmp_path: Path, redis_url: str, command: str
) -> None:
    path = tmp_path / "mailr.db"
    env = {**clean_env, "MAILER_DATABASE_URL": f"sqlite:///{path}", "MAILER_REDIS_URL": redis_url}
    run = mailer(env, command)
    assert run.returncode == EXIT_NO_SCHEMA, run.stdout + run.stderr
    assert str(path) in one_line(run.stderr)
    assert not path.exists()


def test_after_mailer_demo_a_missing_default_database_points_at_the_demo_data(
    clean_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make demo` then `mailer issue list` (README's newcomer path): the
    command reads <var>/mailer.db, which does not exist; the refusal says
    where the demo's data is and how to look at it, still on one line."""
    var = tmp_path / "var"
    monkeypatch.setenv("MAILER_VAR_DIR", str(var))
    code, output, _ = invoke("issue", "list")
    assert code == EXIT_NO_SCHEMA and "mailer demo" not in output  # no demo: no hint
    demo = var / "demo" / "mailer.db"
    demo.parent.mkdir(parents=True)
    demo.touch()
    code, output, _ = invoke("issue", "list")
    assert code == EXIT_NO_SCHEMA, output
    line = one_line(output)
    assert str(var / "mailer.db") in line
    assert f"MAILER_DATABASE_URL=sqlite:///{demo}" in line and "mailer demo --serve" in line
    assert not (var / "mailer.db").exists()
