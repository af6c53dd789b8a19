"""Time the admin subscriber list page at 100,000 subscribers.

Run: .venv/bin/python benchmarks/bench_admin_list.py [--rows N] [--requests N]
         [--postgres ADMIN_URL] [--no-sqlite] [--index]

For each database (SQLite always; PostgreSQL when an admin URL is given or
MAILER_TEST_POSTGRES_URL is set: a scratch database is created and dropped):
seeds N subscribers with one bulk INSERT per 10,000 rows (half of them on a
list), logs a list_admin in through the real form of an app served by uvicorn
on 127.0.0.1, and requests each case of `/admin/subscribers` N times after
three warm-up requests. It reports the median and p95 of the server time of
the request (measured by a middleware: auth, the page's three queries and the
Jinja2 render; not the loopback HTTP) and, called
directly, of the page's queries: the keyset page (`listings.subscribers`) and
the two the page runs on every load for its filters (`organisation_kinds`,
`lists`).

`--index` first creates the indexes the search would need (see docs/admin.md)
with plain SQL in the scratch database, to measure what they would buy;
the schema (models, migrations) is not changed.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import uvicorn
from fastapi import Request, Response
from sqlalchemy import Engine, insert, select, text

from mailer.db import make_engine, session_scope, upgrade
from mailer.models import MailingList, Membership, Subscriber, UserRole
from mailer.services import listings
from mailer.services.accounts import create_user
from mailer.settings import load_settings
from mailer.web.app import create_app

SUB = Subscriber.__table__  # type: ignore[attr-defined]
MEM = Membership.__table__  # type: ignore[attr-defined]
ML = MailingList.__table__  # type: ignore[attr-defined]
CHUNK = 10_000
EMAIL = "bench-admin@metro.example.jp"
PASSWORD = "bench-password-0123456789"
TARGET_MS = 200.0
KINDS = ["市", "町", "村", "特別区"]
SURNAMES = ["佐藤", "鈴木", "髙橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "山﨑"]


def seed(engine: Engine, rows: int) -> tuple[int, int]:
    """Insert `rows` subscribers (every second one on the list); return (list id, top id)."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        key = conn.execute(insert(ML).values(name="cio-forum", title="CIOフォーラム通信",
                                             created_at=now)).inserted_primary_key
        assert key is not None
        list_id = key[0]
        for start in range(0, rows, CHUNK):
            conn.execute(insert(SUB), [
                {"email": f"user{i:06d}@muni-{i % 62:02d}.example.jp",
                 "name": f"{SURNAMES[i % 10]} 職員{i}", "organisation": f"自治体{i % 62}",
                 "organisation_kind": KINDS[i % 4], "status": "active" if i % 50 else
                 "unsubscribed", "created_at": now, "updated_at": now, "honorific": "様",
                 "job_title": "情報政策課長", "roles": "CIO補佐", "format": "html",
                 "charset": "utf-8", "consent_source": "bench", "consent_by": ""}
                for i in range(start, min(start + CHUNK, rows))])
        top = conn.execute(select(SUB.c.id).order_by(SUB.c.id.desc()).limit(1)).scalar_one()
        first = top - rows + 1
        for start in range(first, top + 1, 2 * CHUNK):
            conn.execute(insert(MEM), [
                {"list_id": list_id, "subscriber_id": i, "created_at": now}
                for i in range(start, min(start + 2 * CHUNK, top + 1), 2)])
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text("ANALYZE"))
    return int(list_id), int(top)


def add_search_indexes(engine: Engine) -> None:
    """A trigram index for `%term%` searches (PostgreSQL: pg_trgm GIN on the
    folded `search_key` the query filters). SQLite has no index for a LIKE with
    a leading wildcard; nothing is created there."""
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
        conn.execute(text(
            "CREATE INDEX IF NOT EXISTS ix_subscriber_search_key_trgm ON subscriber "
            "USING gin (search_key gin_trgm_ops)"))
        conn.execute(text("ANALYZE subscriber"))


@contextmanager
def served(url: str, var_dir: Path) -> Iterator[tuple[str, list[float]]]:
    """Serve the app; yield its URL and the list the server appends each
    request's time to (ms, from the request's arrival in the app to its
    response, rendered page included)."""
    settings = load_settings(database_url=url, secret_key="bench-secret-0123456789abcdef0123",
                             base_url="http://127.0.0.1:8000", redis_url=None,
                             old_secret_keys="", var_dir=var_dir)
    app = create_app(settings)
    server_ms: list[float] = []

    async def timer(request: Request, call_next: Callable[[Request], Awaitable[Response]],
                    ) -> Response:
        began = time.perf_counter()
        response = await call_next(request)
        server_ms.append((time.perf_counter() - began) * 1000)
        return response

    # Measured in the server: over loopback, httpx and uvicorn add a constant
    # ~40 ms (delayed ACK) to every request, even /healthz, that is no server time.
    app.middleware("http")(timer)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning",
                                           lifespan="on", access_log=False))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", server_ms
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def login(client: httpx.Client) -> None:
    page = client.get("/admin/login").text
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    r = client.post("/admin/login", data={"email": EMAIL, "password": PASSWORD,
                                          "csrf_token": token, "next": "/admin"})
    if r.status_code != 303:
        raise SystemExit(f"login failed: {r.status_code}")


def timed(fn: Callable[[], object], n: int,
          measured: Callable[[], float] | None = None) -> tuple[float, float]:
    """Return (median, p95) in ms of `n` calls after three warm-up calls (the time
    `measured` reports after each call, else the call's own)."""
    for _ in range(3):
        fn()
    samples = []
    for _ in range(n):
        began = time.perf_counter()
        fn()
        samples.append(measured() if measured else (time.perf_counter() - began) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(n - 1, round(0.95 * (n - 1)))]


def bench(url: str, rows: int, n: int, index: bool) -> list[tuple[str, str, float, float]]:
    engine = make_engine(url)
    upgrade(engine)
    began = time.perf_counter()
    list_id, top = seed(engine, rows)
    print(f"  seeded {rows:,} subscribers in {time.perf_counter() - began:.1f} s", flush=True)
    if index:
        add_search_indexes(engine)
    with session_scope(engine) as session:
        create_user(session=session, email=EMAIL, roles=[UserRole.LIST_ADMIN],
                    password=PASSWORD, name="bench", actor="bench")
    F = listings.SubscriberFilter
    cases = [
        ("first page", "", F(), None),
        ("deep ?after= page", f"?after={top - 100}", F(), top - 100),
        ("search, rare term (職員99999)", "?q=%E8%81%B7%E5%93%A199999", F(q="職員99999"), None),
        ("search, common term (自治体7)", "?q=%E8%87%AA%E6%B2%BB%E4%BD%937", F(q="自治体7"),
         None),
        ("search, variant kanji (山崎 finds 山﨑)", "?q=%E5%B1%B1%E5%B4%8E", F(q="山崎"), None),
        ("filter kind=村 + list, deep", f"?kind=%E6%9D%91&list={list_id}&after={top // 2}",
         F(kind="村", list_id=list_id), top // 2),
    ]
    results = []
    with tempfile.TemporaryDirectory() as var, served(url, Path(var)) as (base, server_ms), \
            httpx.Client(base_url=base, timeout=60, follow_redirects=False) as client:
        login(client)
        for label, query, filt, after in cases:
            def request(query: str = query) -> None:
                r = client.get(f"/admin/subscribers{query}")
                assert r.status_code == 200, r.status_code

            def page_query(filt: listings.SubscriberFilter = filt,
                           after: int | None = after) -> None:
                listings.subscribers(engine, filt, after=after, limit=50)

            def count_query(filt: listings.SubscriberFilter = filt) -> None:
                listings.count_subscribers(engine, filt)

            results.append((label, "request (server)", *timed(request, n, server_ms.pop)))
            results.append((label, "keyset query", *timed(page_query, n)))
            results.append((label, "count (該当 N 名)", *timed(count_query, n)))
        results.append(("every page", "organisation_kinds",
                        *timed(lambda: listings.organisation_kinds(engine), n)))
        results.append(("every page", "lists (member counts)",
                        *timed(lambda: listings.lists(engine), n)))
    engine.dispose()
    return results


def report(name: str, results: list[tuple[str, str, float, float]]) -> None:
    print(f"\n{name}\n| case | what | median ms | p95 ms |\n|---|---|---|---|")
    for label, what, median, p95 in results:
        flag = " **over target**" if what.startswith("request") and p95 > TARGET_MS else ""
        print(f"| {label} | {what} | {median:.1f} | {p95:.1f}{flag} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--postgres", default=os.environ.get("MAILER_TEST_POSTGRES_URL"))
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--index", action="store_true",
                        help="create the search indexes first (scratch database only)")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            print("SQLite", flush=True)
            report("SQLite", bench(f"sqlite:///{tmp}/bench.db", args.rows, args.requests,
                                   args.index))
    if args.postgres:
        import psycopg
        from sqlalchemy.engine import make_url

        plain = args.postgres.replace("postgresql+psycopg://", "postgresql://")
        name = f"mailer_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            url = make_url(plain).set(drivername="postgresql+psycopg", database=name)
            print("PostgreSQL", flush=True)
            report("PostgreSQL", bench(url.render_as_string(hide_password=False), args.rows,
                                       args.requests, args.index))
        finally:
            with psycopg.connect(plain, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
