"""Logging in and out of the admin: cookies, fixation, epochs, CSRF, disabled users."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from admin_support import (
    PASSWORD,
    allow_secure_cookies_over_http,
    csrf_for,
    hidden,
    login,
    make_user,
)
from sqlalchemy import Engine
from web_support import serve

from mailer.db import session_scope
from mailer.models import UserRole
from mailer.services.accounts import set_active
from mailer.settings import Settings
from mailer.web.admin_auth.sessions import SESSION_COOKIE, SessionData, session_cookie_value

EMAIL = "kanri@metro.example.jp"


@pytest.fixture
def url(settings: Settings, engine: Engine) -> Iterator[str]:
    make_user(engine, email=EMAIL, roles=[UserRole.ADMIN])
    with serve(settings) as base:
        yield base


@pytest.fixture
def client(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=10) as c:
        allow_secure_cookies_over_http(c)  # the test server is http, BASE_URL https
        yield c


def _post_login(client: httpx.Client, email: str, password: str) -> httpx.Response:
    token = csrf_for(client, "/admin/login")
    return client.post("/admin/login", data={"email": email, "password": password,
                                             "csrf_token": token, "next": "/admin/audit"})


def _logged_in(client: httpx.Client) -> bool:
    r = client.get("/admin/audit")
    if r.status_code == 303:
        assert r.headers["location"].startswith("/admin/login?next=")
        return False
    assert r.status_code == 200, r.status_code
    return True


def test_login_page_is_japanese_accessible_and_private(client: httpx.Client) -> None:
    r = client.get("/admin/login")
    assert r.status_code == 200
    assert '<html lang="ja">' in r.text and "<h1>ログイン</h1>" in r.text
    assert '<label for="email">メールアドレス</label>' in r.text
    assert 'autocomplete="current-password"' in r.text
    assert hidden(r.text)
    assert r.headers["cache-control"] == "no-store"
    assert "mailer_csrf" in r.headers["set-cookie"]


def test_login_sets_a_hardened_cookie_and_redirects_to_next(client: httpx.Client) -> None:
    r = _post_login(client, EMAIL, PASSWORD)
    assert r.status_code == 303 and r.headers["location"] == "/admin/audit"
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE))
    attrs = {a.strip().split("=")[0].lower() for a in cookie.split(";")}
    assert {"httponly", "secure", "path"} <= attrs  # BASE_URL is https
    assert "samesite=lax" in cookie.lower() and "max-age=43200" in cookie.lower()
    login(client, str(client.base_url), EMAIL)
    assert _logged_in(client)


def test_address_is_case_insensitive(client: httpx.Client) -> None:
    login(client, str(client.base_url), EMAIL.upper())
    assert _logged_in(client)


def test_not_logged_in_is_sent_to_login_with_next(client: httpx.Client) -> None:
    r = client.get("/admin/audit?page=2")
    assert r.status_code == 303
    assert r.headers["location"] == "/admin/login?next=%2Fadmin%2Faudit%3Fpage%3D2"


@pytest.mark.parametrize("email,password", [(EMAIL, "wrong-password-123"),
                                            ("nobody@metro.example.jp", PASSWORD)])
def test_wrong_password_and_unknown_user_look_the_same(
    client: httpx.Client, email: str, password: str
) -> None:
    r = _post_login(client, email, password)
    assert r.status_code == 401
    assert "メールアドレスまたはパスワードが正しくありません。" in r.text
    assert SESSION_COOKIE not in r.headers.get("set-cookie", "")
    assert not _logged_in(client)


def test_open_redirects_are_refused(client: httpx.Client) -> None:
    token = csrf_for(client, "/admin/login")
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        r = client.post("/admin/login", data={"email": EMAIL, "password": PASSWORD,
                                              "csrf_token": token, "next": target})
        assert r.status_code == 303 and r.headers["location"] == "/admin", target
        token = csrf_for(client, "/admin/login")


def test_each_login_gets_a_new_session_id(client: httpx.Client, settings: Settings) -> None:
    planted = session_cookie_value(settings.secret_key, SessionData(
        user_id=1, epoch=99, session_id="attacker-chosen", issued_at=int(time.time())))
    client.cookies.set(SESSION_COOKIE, planted, domain="127.0.0.1", path="/")
    login(client, str(client.base_url), EMAIL)
    first = client.cookies[SESSION_COOKIE]
    assert first != planted
    login(client, str(client.base_url), EMAIL)
    second = client.cookies[SESSION_COOKIE]
    assert second != first
    assert _logged_in(client)


def test_logout_ends_the_session_even_if_the_cookie_is_replayed(
    client: httpx.Client, url: str
) -> None:
    login(client, url, EMAIL)
    stolen = client.cookies[SESSION_COOKIE]
    token = csrf_for(client, "/admin/audit")
    r = client.post("/admin/logout", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/admin/login?notice=logged-out"
    assert not _logged_in(client)
    with httpx.Client(base_url=url, timeout=10) as thief:
        thief.cookies.set(SESSION_COOKIE, stolen, domain="127.0.0.1", path="/")
        assert not _logged_in(thief)


def test_logout_everywhere_ends_the_other_sessions_only(url: str) -> None:
    with httpx.Client(base_url=url, timeout=10) as office, \
            httpx.Client(base_url=url, timeout=10) as home:
        login(office, url, EMAIL)
        login(home, url, EMAIL)
        token = csrf_for(office, "/admin/audit")
        r = office.post("/admin/logout-everywhere", data={"csrf_token": token})
        assert r.status_code == 303 and r.headers["location"] == "/admin"
        assert _logged_in(office)
        assert not _logged_in(home)


def test_expired_session_is_refused(client: httpx.Client, settings: Settings) -> None:
    old = session_cookie_value(settings.secret_key, SessionData(
        user_id=1, epoch=0, session_id="old", issued_at=int(time.time()) - 13 * 3600))
    client.cookies.set(SESSION_COOKIE, old, domain="127.0.0.1", path="/")
    assert not _logged_in(client)
    fresh = session_cookie_value(settings.secret_key, SessionData(
        user_id=1, epoch=0, session_id="fresh", issued_at=int(time.time()) - 60))
    client.cookies.set(SESSION_COOKIE, fresh, domain="127.0.0.1", path="/")
    assert _logged_in(client)  # the signature, not a server-side row, is what counts


def test_forged_cookie_is_refused(client: httpx.Client) -> None:
    forged = session_cookie_value("not-our-key-0123456789abcdef0123456789", SessionData(
        user_id=1, epoch=0, session_id="x", issued_at=int(time.time())))
    client.cookies.set(SESSION_COOKIE, forged, domain="127.0.0.1", path="/")
    assert not _logged_in(client)


@pytest.mark.parametrize("token", [None, "", "garbage", "InRlc3Qi.bad.sig"])
def test_login_without_a_valid_csrf_token_is_403(client: httpx.Client, token: str | None
                                                 ) -> None:
    client.get("/admin/login")
    data = {"email": EMAIL, "password": PASSWORD}
    if token is not None:
        data["csrf_token"] = token
    r = client.post("/admin/login", data=data)
    assert r.status_code == 403
    assert '<html lang="ja">' in r.text and "送信を受け付けられませんでした" in r.text
    assert SESSION_COOKIE not in r.headers.get("set-cookie", "")


def test_csrf_token_of_another_browser_is_403(url: str) -> None:
    with httpx.Client(base_url=url, timeout=10) as a, httpx.Client(base_url=url, timeout=10) as b:
        login(a, url, EMAIL)
        login(b, url, EMAIL)
        token_a = csrf_for(a, "/admin/audit")
        assert b.post("/admin/logout", data={"csrf_token": token_a}).status_code == 403
        assert b.post("/admin/logout", data={}).status_code == 403
        assert _logged_in(b)
        assert a.post("/admin/logout", data={"csrf_token": token_a}).status_code == 303


def test_csrf_token_from_before_login_is_dead_after_login(client: httpx.Client, url: str
                                                          ) -> None:
    before = csrf_for(client, "/admin/login")
    login(client, url, EMAIL)
    assert client.post("/admin/logout", data={"csrf_token": before}).status_code == 403


def test_disabled_user_cannot_log_in_and_loses_their_session(
    client: httpx.Client, url: str, engine: Engine
) -> None:
    login(client, url, EMAIL)
    with session_scope(engine) as session:
        set_active(session=session, email=EMAIL, active=False, actor="test")
    assert not _logged_in(client)
    r = _post_login(client, EMAIL, PASSWORD)
    assert r.status_code == 401
    assert "メールアドレスまたはパスワードが正しくありません。" in r.text
