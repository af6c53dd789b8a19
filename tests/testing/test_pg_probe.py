"""The suite finds PostgreSQL by itself and says so when it cannot.

The end-to-end checks run pytest in a subprocess on a one-test project whose
conftest is ours, with MAILER_TEST_POSTGRES_URL unset, as from a fresh clone.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailer.testing import postgres as pg

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"


@pytest.fixture
def unused_port() -> Iterator[int]:
    """A port bound but not listening: connections to it are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


def test_a_named_server_is_used_as_given_without_a_probe(unused_port: int) -> None:
    url = f"postgresql://postgres@127.0.0.1:{unused_port}/test"
    assert pg.find_admin_server({pg.ENV_VAR: url}) == pg.AdminServer(url)


def test_skip_turns_postgresql_off() -> None:
    server = pg.find_admin_server({pg.ENV_VAR: "skip"})
    assert server.url is None
    assert server.skip_reason.startswith(pg.SKIP_PREFIX)


def test_no_server_answering_is_said_with_what_was_tried(unused_port: int) -> None:
    url = f"postgresql://postgres@127.0.0.1:{unused_port}/test"
    server = pg.find_admin_server({}, candidates=[url])
    assert server.url is None
    assert url in server.problem and pg.ENV_VAR in server.problem


def test_the_first_candidate_that_answers_is_used(unused_port: int, pg_admin: str) -> None:
    dead = f"postgresql://postgres@127.0.0.1:{unused_port}/test"
    assert pg.find_admin_server({}, candidates=[dead, pg_admin]).url == pg_admin


def _run_suite(tmp_path: Path, candidates: list[str]) -> subprocess.CompletedProcess[str]:
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (tmp_path / "conftest.py").write_text(CONFTEST.read_text(encoding="utf-8"), encoding="utf-8")
    # A plugin loaded before the conftest points the probe at `candidates`.
    (tmp_path / "pg_candidates.py").write_text(
        "from mailer.testing import postgres\n"
        f"postgres.DEFAULT_ADMIN_URLS = {tuple(candidates)!r}\n",
        encoding="utf-8",
    )
    (tmp_path / "test_one.py").write_text(
        "def test_db(database_url):\n    assert database_url\n", encoding="utf-8"
    )
    env = {k: v for k, v in os.environ.items() if k != pg.ENV_VAR}
    env["PYTHONPATH"] = str(tmp_path)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "pg_candidates", "-p", "no:cacheprovider",
         "-q", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_a_server_the_last_lines_say_so_with_the_count(
    tmp_path: Path, unused_port: int
) -> None:
    run = _run_suite(tmp_path, [f"postgresql://postgres@127.0.0.1:{unused_port}/test"])
    assert run.returncode == 0, run.stdout + run.stderr
    tail = run.stdout.strip().splitlines()[-5:]
    assert "PostgreSQL was not used: 1 test(s) skipped" in "\n".join(tail), run.stdout
    assert "1 passed, 1 skipped" in tail[-1]


def test_with_a_server_at_the_default_address_the_postgresql_half_runs(
    tmp_path: Path, pg_admin: str
) -> None:
    # pg_admin stands in for "the default local address": what matters is that
    # the variable is unset in the child and the probe finds the server.
    run = _run_suite(tmp_path, [pg_admin])
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout.strip().splitlines()[-1]
    assert "PostgreSQL was not used" not in run.stdout
