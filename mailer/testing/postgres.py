"""Finding a PostgreSQL server the test suite may create databases on.

`make test` from a fresh clone should run the PostgreSQL half whenever a
server answers at its usual local address, not only when CI sets
MAILER_TEST_POSTGRES_URL; and when none answers, the run must say so in words
instead of hiding it among the skips.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

ENV_VAR = "MAILER_TEST_POSTGRES_URL"

#: tried in order when ENV_VAR is unset: TCP on the default port, then the
#: local socket (libpq's default directory); the `test` database first, then
#: `postgres`, which every fresh cluster has (we only CREATE DATABASE there)
DEFAULT_ADMIN_URLS: tuple[str, ...] = (
    "postgresql://postgres@127.0.0.1:5432/test",
    "postgresql://postgres@127.0.0.1:5432/postgres",
    "postgresql://postgres@/test",
    "postgresql://postgres@/postgres",
)

#: seconds to wait for each candidate (a refused port answers at once)
CONNECT_TIMEOUT = 2

#: the start of every skip reason given for want of a server (the summary counts these)
SKIP_PREFIX = "no PostgreSQL for the tests"


@dataclass(frozen=True)
class AdminServer:
    """Where the suite creates its databases: `url` (None when there is none)
    and why not (`problem`), in words for the skip reason and the summary."""

    url: str | None
    problem: str = ""

    @property
    def skip_reason(self) -> str:
        return f"{SKIP_PREFIX}: {self.problem}"


def _answers(url: str, timeout: float) -> str | None:
    """Return None if `url` accepts a connection, else the one-line error."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=max(1, int(timeout)), autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return " ".join(str(exc).split()) or type(exc).__name__
    return None


def find_admin_server(
    env: Mapping[str, str],
    *,
    candidates: Sequence[str] | None = None,
    timeout: float = CONNECT_TIMEOUT,
) -> AdminServer:
    """Return the server named by MAILER_TEST_POSTGRES_URL in `env` (used as
    given, unprobed: a server asked for by name must fail loudly if it is down;
    the value `skip` turns PostgreSQL off), else the first default candidate
    that answers within `timeout`, else an AdminServer without a url whose
    `problem` names what was tried."""
    named = env.get(ENV_VAR, "").strip()
    if named.lower() in ("skip", "off", "none"):
        return AdminServer(None, f"{ENV_VAR}={named}")
    if named:
        return AdminServer(named)
    tried: list[str] = []
    last = ""
    for url in DEFAULT_ADMIN_URLS if candidates is None else candidates:
        error = _answers(url, timeout)
        if error is None:
            return AdminServer(url)
        tried.append(url)
        last = error
    if not tried:
        return AdminServer(None, f"{ENV_VAR} is not set and no address to try")
    return AdminServer(
        None,
        f"{ENV_VAR} is not set and none of {', '.join(tried)} answered (last: {last})",
    )


def summary_lines(server: AdminServer, skipped: int) -> list[str]:
    """The words for the end of a run: empty when PostgreSQL was used."""
    if server.url is not None:
        return []
    return [
        f"PostgreSQL was not used: {skipped} test(s) skipped, the PostgreSQL half of the suite "
        "did not run.",
        f"  why: {server.problem}",
        f"  to run it: start PostgreSQL on 127.0.0.1:5432 or set {ENV_VAR} "
        "(e.g. postgresql://postgres@127.0.0.1:5432/test).",
    ]
