"""Helpers for admin tests: accounts, tokens, logging in through the real form.

The test server speaks plain http while MAILER_BASE_URL is https, so the
session cookie is `Secure` and httpx would not send it back; `login` installs
a response hook on the client that keeps such cookies usable over http.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from http.cookiejar import Cookie

import httpx
from sqlalchemy import Engine

from mailer.db import session_scope
from mailer.models import UserRole
from mailer.services.accounts import create_token, create_user
from mailer.testing.webserver import serve_app  # noqa: F401  (re-exported for the auth tests)

PASSWORD = "correct-horse-battery-staple"


def make_user(engine: Engine, *, email: str, roles: Iterable[UserRole | str],
              password: str = PASSWORD, name: str = "") -> None:
    """Create an active user with these roles."""
    with session_scope(engine) as session:
        create_user(session=session, email=email, roles=roles, password=password, name=name,
                    actor="test")


def make_token(engine: Engine, *, email: str, roles: Iterable[UserRole | str],
               name: str) -> str:
    """Create an API token for an existing user; return the bearer value."""
    with session_scope(engine) as session:
        _row, token = create_token(session=session, email=email, name=name, roles=roles,
                                   actor="test")
    return token


def _unsecure_cookies(response: httpx.Response) -> None:
    jar = response.request.extensions.get("mailer_jar")
    if jar is None:
        return
    for cookie in list(jar):
        if cookie.secure:
            jar.set_cookie(Cookie(
                cookie.version, cookie.name, cookie.value, cookie.port, cookie.port_specified,
                cookie.domain, cookie.domain_specified, cookie.domain_initial_dot, cookie.path,
                cookie.path_specified, False, cookie.expires, cookie.discard, cookie.comment,
                cookie.comment_url, {"HttpOnly": ""} if cookie.has_nonstandard_attr("HttpOnly")
                else {}, cookie.rfc2109,
            ))


def allow_secure_cookies_over_http(client: httpx.Client) -> None:
    """Make `client` send back cookies marked Secure to the http test server."""
    jar = client.cookies.jar

    def tag(request: httpx.Request) -> None:
        request.extensions["mailer_jar"] = jar

    if tag.__name__ not in {h.__name__ for h in client.event_hooks["request"]}:
        client.event_hooks = {
            "request": [*client.event_hooks["request"], tag],
            "response": [*client.event_hooks["response"], _unsecure_cookies],
        }
    for cookie in list(jar):  # cookies received before the hook was installed
        if cookie.secure:
            _unsecure_cookies(httpx.Response(200, request=httpx.Request(
                "GET", "http://x", extensions={"mailer_jar": jar})))
            break


def hidden(html: str, name: str = "csrf_token") -> str:
    """Return the value of the hidden input `name` (the CSRF token by default)."""
    match = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden field {name}"
    return match.group(1)


def csrf_for(client: httpx.Client, url: str) -> str:
    """GET a page with a form and return its CSRF token."""
    r = client.get(url)
    assert r.status_code == 200, r.status_code
    return hidden(r.text)


def login(client: httpx.Client, base_url: str, email: str, password: str = PASSWORD) -> None:
    """Log in through /admin/login (CSRF and all); assert it worked."""
    allow_secure_cookies_over_http(client)
    token = csrf_for(client, f"{base_url}/admin/login")
    r = client.post(f"{base_url}/admin/login", data={
        "email": email, "password": password, "csrf_token": token, "next": "/admin",
    }, follow_redirects=False)
    assert r.status_code == 303, (r.status_code, r.text[:500])
    assert "mailer_session" in client.cookies


