"""`require` on a test-only router: every role × every required role, by session
(pages and /api) and by bearer token (/api), plus the 401/403 shapes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import httpx
import pytest
from admin_support import allow_secure_cookies_over_http, login, make_token, make_user, serve_app
from fastapi import APIRouter, Depends, Request
from sqlalchemy import Engine

from mailer.models import UserRole
from mailer.settings import Settings
from mailer.web.app import create_app
from mailer.web.auth import Principal, csrf_token, require, verify_csrf

ROLES = list(UserRole)


def _email(role: UserRole) -> str:
    return f"{role.value.replace('_', '-')}@metro.example.jp"


def _allowed(held: UserRole, wanted: UserRole | None) -> bool:
    return wanted is None or held in (UserRole.ADMIN, wanted) or wanted is UserRole.VIEWER


def _test_router() -> APIRouter:
    router = APIRouter()
    for wanted in [*ROLES, None]:
        dep = require(wanted) if wanted is not None else require()
        name = wanted.value if wanted is not None else "any"

        # A default, not Annotated: the annotation is a string resolved in module globals.
        def show(p: Principal = Depends(dep)) -> dict[str, object]:  # noqa: B008
            return {"actor": p.actor, "via": p.via, "roles": sorted(r.value for r in p.roles)}

        router.add_api_route(f"/admin/t/{name}", show, methods=["GET"])
        router.add_api_route(f"/api/t/{name}", show, methods=["GET", "POST"])

    @router.get("/admin/t-form")
    def form(request: Request, p: Annotated[Principal, Depends(require())]) -> dict[str, str]:
        return {"csrf_token": csrf_token(request)}

    @router.post("/admin/t-form", dependencies=[Depends(verify_csrf)])
    def post_form(p: Annotated[Principal, Depends(require(UserRole.EDITOR))]) -> dict[str, str]:
        return {"ok": p.actor}

    return router


@pytest.fixture
def url(settings: Settings, engine: Engine) -> Iterator[str]:
    for role in ROLES:
        make_user(engine, email=_email(role), roles=[role])
    app = create_app(settings)
    app.include_router(_test_router())
    with serve_app(app) as base:
        yield base


@pytest.fixture
def tokens(url: str, engine: Engine) -> dict[UserRole, str]:
    return {role: make_token(engine, email=_email(role), roles=[role], name=f"t-{role.value}")
            for role in ROLES}


@pytest.mark.parametrize("held", ROLES, ids=[r.value for r in ROLES])
def test_session_matrix(url: str, held: UserRole) -> None:
    with httpx.Client(base_url=url, timeout=10) as client:
        login(client, url, _email(held))
        for wanted in [*ROLES, None]:
            name = wanted.value if wanted is not None else "any"
            for path in (f"/admin/t/{name}", f"/api/t/{name}"):
                r = client.get(path)
                expected = 200 if _allowed(held, wanted) else 403
                assert r.status_code == expected, (held, wanted, path)
                if expected == 200:
                    assert r.json()["via"] == "session" and r.json()["actor"] == _email(held)
                elif path.startswith("/api"):
                    assert r.json() == {"detail": "この操作を行う権限がありません。", "field": None}
                else:
                    assert '<html lang="ja">' in r.text and "権限がありません" in r.text


@pytest.mark.parametrize("held", ROLES, ids=[r.value for r in ROLES])
def test_token_matrix(url: str, tokens: dict[UserRole, str], held: UserRole) -> None:
    headers = {"Authorization": f"Bearer {tokens[held]}"}
    with httpx.Client(base_url=url, timeout=10, headers=headers) as client:
        for wanted in [*ROLES, None]:
            name = wanted.value if wanted is not None else "any"
            for method in ("GET", "POST"):  # no CSRF token needed with a bearer token
                r = client.request(method, f"/api/t/{name}")
                assert r.status_code == (200 if _allowed(held, wanted) else 403), (held, wanted)
                if r.status_code == 200:
                    assert r.json()["via"] == "token"
                    assert r.json()["actor"] == f"token:t-{held.value}"


def test_not_logged_in(url: str) -> None:
    with httpx.Client(base_url=url, timeout=10) as client:
        r = client.get("/api/t/any")
        assert r.status_code == 401
        assert r.json() == {"detail": "ログインが必要です。", "field": None}
        assert r.headers["www-authenticate"] == "Bearer"
        r = client.get("/admin/t/editor?x=1")
        assert r.status_code == 303
        assert r.headers["location"] == "/admin/login?next=%2Fadmin%2Ft%2Feditor%3Fx%3D1"


@pytest.mark.parametrize("header", ["Bearer", "Bearer mlr_not-a-token", "Basic abc",
                                    "bearer x y"])
def test_bad_authorization_header_is_401(url: str, header: str) -> None:
    with httpx.Client(base_url=url, timeout=10) as client:
        r = client.get("/api/t/any", headers={"Authorization": header})
        assert r.status_code == 401 and r.json()["field"] is None


def test_token_never_exceeds_its_owner(url: str, engine: Engine) -> None:
    make_user(engine, email="two@metro.example.jp", roles=[UserRole.EDITOR, UserRole.APPROVER])
    token = make_token(engine, email="two@metro.example.jp", roles=[UserRole.EDITOR],
                       name="editor-only")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, timeout=10, headers=headers) as client:
        assert client.get("/api/t/editor").status_code == 200
        assert client.get("/api/t/approver").status_code == 403  # the user has it; the token not
        assert client.get("/api/t/viewer").json()["roles"] == ["editor"]


def test_session_on_api_needs_csrf_header_for_unsafe_methods(url: str) -> None:
    with httpx.Client(base_url=url, timeout=10) as client:
        login(client, url, _email(UserRole.EDITOR))
        assert client.post("/api/t/editor").status_code == 403
        token = client.get("/admin/t-form").json()["csrf_token"]
        r = client.post("/api/t/editor", headers={"X-CSRF-Token": token})
        assert r.status_code == 200


def test_verify_csrf_on_a_form_post(url: str) -> None:
    with httpx.Client(base_url=url, timeout=10) as client:
        login(client, url, _email(UserRole.EDITOR))
        token = client.get("/admin/t-form").json()["csrf_token"]
        assert client.post("/admin/t-form", data={"csrf_token": "nope"}).status_code == 403
        assert client.post("/admin/t-form", data={}).status_code == 403
        r = client.post("/admin/t-form", data={"csrf_token": token})
        assert r.status_code == 200 and r.json() == {"ok": _email(UserRole.EDITOR)}
        r = client.post("/admin/t-form", files={"f": ("a.txt", b"x")},
                        data={"csrf_token": token})
        assert r.status_code == 200  # multipart forms carry the field too


def test_page_403_is_html_even_without_redirect(url: str) -> None:
    with httpx.Client(base_url=url, timeout=10) as client:
        allow_secure_cookies_over_http(client)
        login(client, url, _email(UserRole.VIEWER))
        r = client.get("/admin/audit")
        assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
