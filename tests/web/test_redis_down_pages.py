"""Redis down (it holds revoked sessions): a signed-in staff member's public
pages answer as for the public, not 500, and an upload is told to wait (503)
instead of a bare server error (review of the publish gate and #15.2)."""

from __future__ import annotations

import socket

import httpx
from admin_support import make_user
from sqlalchemy import Engine
from sqlmodel import select
from web_support import SECRET, Seeded, make_settings, serve

from mailer.db import session_scope
from mailer.models import User, UserRole
from mailer.web.admin_auth.sessions import SESSION_COOKIE, new_session, session_cookie_value


def _dead_redis_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


def test_staff_cookie_with_redis_down(database_url: str, engine: Engine, seeded: Seeded) -> None:
    make_user(engine, email="editor@metro.example.jp", roles=[UserRole.EDITOR])
    with session_scope(engine) as session:
        user = session.exec(select(User).where(User.email == "editor@metro.example.jp")).one()
        cookie = session_cookie_value(SECRET, new_session(user_id=int(user.id or 0),
                                                          epoch=user.session_epoch))
    settings = make_settings(database_url, redis_url=_dead_redis_url())
    with serve(settings) as url, httpx.Client(base_url=url, timeout=30,
                                               cookies={SESSION_COOKIE: cookie}) as staff:
        for path in ("/archive", "/archive/feed.atom", f"/archive/{seeded.slug}",
                     f"/archive/{seeded.slug}/{seeded.labels[0]}"):
            response = staff.get(path)
            assert response.status_code < 500, (path, response.status_code)
        upload = staff.post("/admin/issues", files={"file": ("a.zip", b"x", "application/zip")})
        assert upload.status_code == 503
        assert "Redis" in upload.text
