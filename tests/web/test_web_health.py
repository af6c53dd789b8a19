"""Liveness and readiness probes."""

from __future__ import annotations

from pathlib import Path

import httpx
from web_support import Seeded, make_settings, serve

from mailer.settings import Settings


def test_healthz(client: httpx.Client) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_readyz_database_only(client: httpx.Client) -> None:
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["checks"] == {"database": "ok"}
    assert r.json()["failed"] == []


def test_readyz_with_redis(settings: Settings, seeded: Seeded, redis_url: str) -> None:
    with serve(settings.model_copy(update={"redis_url": redis_url})) as url:
        r = httpx.get(f"{url}/readyz", timeout=10)
    assert r.status_code == 200
    assert r.json()["checks"] == {"database": "ok", "redis": "ok"}


def test_readyz_names_what_failed(tmp_path: Path) -> None:
    # A directory is not an SQLite file; port 1 has no Redis.
    broken = make_settings(f"sqlite:///{tmp_path}", redis_url="redis://127.0.0.1:1/0")
    with serve(broken) as url:
        r = httpx.get(f"{url}/readyz", timeout=20)
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "unavailable"
    assert body["failed"] == ["database", "redis"]


def test_readyz_needs_the_schema(tmp_path: Path) -> None:
    with serve(make_settings(f"sqlite:///{tmp_path / 'empty.db'}")) as url:
        r = httpx.get(f"{url}/readyz", timeout=10)
        page = httpx.get(f"{url}/archive", timeout=10)
    assert r.status_code == 503
    assert r.json()["failed"] == ["database"]
    # and a page that cannot be served is a Japanese 500 page, not a traceback
    assert page.status_code == 500
    assert '<html lang="ja">' in page.text and "ただいま表示できません" in page.text


def test_head_is_answered_like_get(client: httpx.Client) -> None:
    assert client.head("/healthz").status_code == 200
    assert client.head("/archive").status_code == 200
