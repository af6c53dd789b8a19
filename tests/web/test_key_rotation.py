"""A retired key (MAILER_OLD_SECRET_KEYS) verifies links in mail already sent,
never a session or a CSRF token: rotating away from a leaked key ends forged
sessions (security issue #15, item 1)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from admin_support import allow_secure_cookies_over_http, make_user
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import Engine
from web_support import Seeded, make_settings, serve, subscriber_state

from mailer.models import UserRole
from mailer.settings import Settings
from mailer.tokens import unsubscribe_token
from mailer.web.admin_auth.sessions import SESSION_COOKIE, SessionData, session_cookie_value
from mailer.web.auth import CSRF_COOKIE, CSRF_SALT
from mailer.web.security import csrf_token as preferences_csrf

LEAKED = "the-key-that-leaked-last-month-0123456789"
CURRENT = "Wq7-tR2zLx9Vb4NcK8mJ3hYd6SgP1fA5uE0oIy"


@pytest.fixture
def rotated(database_url: str) -> Settings:
    return make_settings(database_url, secret_key=CURRENT, old_secret_keys=LEAKED)


@pytest.fixture
def client(rotated: Settings, engine: Engine, seeded: Seeded) -> Iterator[httpx.Client]:
    make_user(engine, email="kanri@metro.example.jp", roles=[UserRole.ADMIN])
    with serve(rotated) as url, httpx.Client(base_url=url, timeout=10) as c:
        allow_secure_cookies_over_http(c)
        yield c


def _session(key: str) -> str:
    return session_cookie_value(key, SessionData(
        user_id=1, epoch=0, session_id="s1", issued_at=int(time.time())))


def test_a_session_signed_with_a_retired_key_is_refused(client: httpx.Client) -> None:
    client.cookies.set(SESSION_COOKIE, _session(LEAKED), domain="127.0.0.1", path="/")
    r = client.get("/admin/audit")
    assert r.status_code == 303 and r.headers["location"].startswith("/admin/login")
    # the same cookie signed with the current key opens the page: only the key differs
    client.cookies.set(SESSION_COOKIE, _session(CURRENT), domain="127.0.0.1", path="/")
    assert client.get("/admin/audit").status_code == 200


def test_an_admin_csrf_token_signed_with_a_retired_key_is_refused(
        client: httpx.Client) -> None:
    seed = "seed-of-this-browser"
    client.cookies.set(CSRF_COOKIE, seed, domain="127.0.0.1", path="/admin")
    old = URLSafeTimedSerializer(LEAKED, salt=CSRF_SALT).dumps("c:" + seed)
    r = client.post("/admin/login", data={"email": "kanri@metro.example.jp",
                                          "password": "x", "csrf_token": old})
    assert r.status_code == 403


def test_links_signed_with_a_retired_key_still_work(
    client: httpx.Client, engine: Engine, seeded: Seeded
) -> None:
    token = unsubscribe_token([LEAKED], subscriber_id=seeded.alice, list_id=seeded.list_id)
    assert client.get(f"/p/{token}").status_code == 200  # preferences
    # the preferences form's own CSRF token must come from the current key
    before = subscriber_state(engine, seeded.alice)
    stale = preferences_csrf(LEAKED, subscriber_id=seeded.alice)
    r = client.post(f"/p/{token}", data={"csrf": stale, "format": "text", "charset": "utf-8"})
    assert r.status_code == 403
    assert subscriber_state(engine, seeded.alice) == before
    r = client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200
    assert subscriber_state(engine, seeded.alice).status == "unsubscribed"
