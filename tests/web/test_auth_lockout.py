"""Brute force: five failures per account or client IP in 15 minutes lock it for 15."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import redis
from admin_support import (
    PASSWORD,
    allow_secure_cookies_over_http,
    csrf_for,
    make_user,
    serve_app,
)
from sqlalchemy import Engine
from sqlmodel import Session, select

from mailer.models import AuditLog, UserRole
from mailer.services.sign_in import ATTEMPT_TEXT_MAX, note_locked_out
from mailer.settings import Settings
from mailer.web.admin_auth.store import (
    LOCK_SECONDS,
    MAX_FAILURES,
    WINDOW_SECONDS,
    AuthStore,
    MemoryAuthStore,
    RedisAuthStore,
)
from mailer.web.app import create_app

EMAIL = "kanri@metro.example.jp"
FAILED = "メールアドレスまたはパスワードが正しくありません。"


def _attempt(client: httpx.Client, email: str, password: str) -> httpx.Response:
    token = csrf_for(client, "/admin/login")
    return client.post("/admin/login", data={"email": email, "password": password,
                                             "csrf_token": token})


def _serve(settings: Settings, engine: Engine, store: AuthStore | None) -> Iterator[str]:
    make_user(engine, email=EMAIL, roles=[UserRole.EDITOR])
    app = create_app(settings)
    if store is not None:
        app.state.auth_store = store
    with serve_app(app) as url:
        yield url


@pytest.fixture(params=["memory", "redis"])
def url(request: pytest.FixtureRequest, settings: Settings, engine: Engine) -> Iterator[str]:
    if request.param == "memory":
        yield from _serve(settings, engine, None)
        return
    # Redis: the store a multi-process deployment uses; a key prefix of this test's own.
    redis_url: str = request.getfixturevalue("redis_url")
    prefix: str = request.getfixturevalue("key_prefix")
    client = redis.Redis.from_url(redis_url)
    try:
        yield from _serve(settings, engine, RedisAuthStore(client, prefix=prefix))
    finally:
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
        client.close()


def test_sixth_attempt_is_refused_even_with_the_right_password(url: str) -> None:
    with httpx.Client(base_url=url, timeout=10) as client:
        allow_secure_cookies_over_http(client)
        for _ in range(MAX_FAILURES):
            r = _attempt(client, EMAIL, "wrong-password-123")
            assert r.status_code == 401 and FAILED in r.text
        r = _attempt(client, EMAIL, PASSWORD)
        assert r.status_code == 429
        assert r.headers["retry-after"] == str(LOCK_SECONDS)
        assert "15分ほど待って" in r.text
        assert "mailer_session" not in r.headers.get("set-cookie", "")


def test_unknown_addresses_count_against_the_client_ip(url: str) -> None:
    with httpx.Client(base_url=url, timeout=10) as client:
        allow_secure_cookies_over_http(client)
        for i in range(MAX_FAILURES):
            r = _attempt(client, f"nobody{i}@metro.example.jp", PASSWORD)
            assert r.status_code == 401 and FAILED in r.text  # same as a wrong password
        assert _attempt(client, EMAIL, PASSWORD).status_code == 429  # the IP is locked


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_memory_store_window_and_lock_duration() -> None:
    clock = Clock()
    store = MemoryAuthStore(clock=clock)
    for _ in range(MAX_FAILURES - 1):
        store.failed(account="a@x.jp", ip="10.0.0.1")
    assert not store.locked(account="a@x.jp", ip="10.0.0.2")
    clock.now += WINDOW_SECONDS + 1  # the old failures leave the window
    store.failed(account="a@x.jp", ip="10.0.0.1")
    assert not store.locked(account="a@x.jp", ip="10.0.0.1")
    for _ in range(MAX_FAILURES - 1):
        store.failed(account="A@X.JP", ip="10.0.0.3")  # addresses compare case-insensitively
    assert store.locked(account="a@x.jp", ip="10.0.0.9")  # the account, from any IP
    assert not store.locked(account="b@x.jp", ip="10.0.0.1")  # IP 1: one failure in the window
    clock.now += LOCK_SECONDS - 1
    assert store.locked(account="a@x.jp", ip="10.0.0.9")
    clock.now += 2
    assert not store.locked(account="a@x.jp", ip="10.0.0.9")


def test_memory_store_success_forgets_account_failures_only() -> None:
    store = MemoryAuthStore(clock=Clock())
    for _ in range(MAX_FAILURES - 1):
        store.failed(account="a@x.jp", ip="10.0.0.1")
    store.succeeded(account="a@x.jp")
    store.failed(account="a@x.jp", ip="10.0.0.2")
    assert not store.locked(account="a@x.jp", ip="10.0.0.2")
    store.failed(account="c@x.jp", ip="10.0.0.1")  # IP 1: its 5th failure
    assert store.locked(account="z@x.jp", ip="10.0.0.1")


def test_memory_store_revocations_expire() -> None:
    clock = Clock()
    store = MemoryAuthStore(clock=clock)
    store.revoke("sid", ttl=60)
    assert store.is_revoked("sid") and not store.is_revoked("other")
    clock.now += 61
    assert not store.is_revoked("sid")


def _audit_rows(engine: Engine, action: str) -> list[AuditLog]:
    with Session(engine) as session:
        return list(session.exec(select(AuditLog).where(AuditLog.action == action)).all())


def test_a_lockout_flood_writes_a_bounded_audit_log(url: str, engine: Engine) -> None:
    """Security issue #15 item 7: an attacker hammering the form while locked
    out, with a new 320-character address each time, once wrote a row per try."""
    domain = "@metro.example.jp"
    long = "x" * (320 - len(domain)) + domain
    with httpx.Client(base_url=url, timeout=10) as client:
        allow_secure_cookies_over_http(client)
        for _ in range(MAX_FAILURES):
            assert _attempt(client, long, "wrong-password-123").status_code == 401
        for i in range(25):  # the IP is locked: new names, then the real account
            name = f"{i:03d}" + long[3:]
            assert _attempt(client, name, "wrong-password-123").status_code == 429
        for _ in range(5):
            assert _attempt(client, EMAIL, PASSWORD).status_code == 429
    failed = _audit_rows(engine, "auth.login_failed")
    locked = _audit_rows(engine, "auth.login_locked")
    assert len(failed) == MAX_FAILURES
    assert len(locked) == 1
    shortened = long[: ATTEMPT_TEXT_MAX - 1] + "…"
    assert {r.actor for r in failed} == {shortened} == {r.target_id for r in failed}
    assert len(locked[0].actor) == ATTEMPT_TEXT_MAX and locked[0].actor.endswith("…")
    assert "個別に記録しません" in locked[0].detail  # the auditor is told why it is one row


def test_one_locked_row_per_ip_and_address_per_lockout(engine: Engine) -> None:
    t0 = datetime.now(UTC)
    assert note_locked_out(engine=engine, email="a@x.jp", ip="10.0.0.1", now=t0)
    assert not note_locked_out(engine=engine, email="a@x.jp", ip="10.0.0.1", now=t0)
    assert not note_locked_out(engine=engine, email="b@x.jp", ip="10.0.0.1", now=t0)  # same IP
    assert not note_locked_out(engine=engine, email="a@x.jp", ip="10.0.0.2", now=t0)  # same address
    assert note_locked_out(engine=engine, email="c@x.jp", ip="10.0.0.3", now=t0)
    later = t0 + timedelta(seconds=LOCK_SECONDS + 1)  # a new lockout: said again
    assert note_locked_out(engine=engine, email="a@x.jp", ip="10.0.0.1", now=later)
    assert len(_audit_rows(engine, "auth.login_locked")) == 3
