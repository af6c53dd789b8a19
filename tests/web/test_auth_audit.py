"""API tokens (hashed, revocable) and the audit log (rows, page, CSV export)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from admin_support import (
    allow_secure_cookies_over_http,
    csrf_for,
    login,
    make_token,
    make_user,
)
from sqlalchemy import Engine, select
from sqlmodel import Session
from web_support import serve

import mailer
from mailer.db import session_scope
from mailer.labels import AUDIT_ACTION_LABELS
from mailer.models import ApiToken, AuditLog, UserRole
from mailer.services.accounts import record_audit, revoke_token, set_active
from mailer.settings import Settings

ADMIN = "kanri@metro.example.jp"
EDITOR = "henshu@metro.example.jp"


@pytest.fixture
def url(settings: Settings, engine: Engine) -> Iterator[str]:
    make_user(engine, email=ADMIN, roles=[UserRole.ADMIN])
    make_user(engine, email=EDITOR, roles=[UserRole.EDITOR])
    with serve(settings) as base:
        yield base


def _audit(engine: Engine) -> list[tuple[str, str, str, str]]:
    with Session(engine) as session:
        rows = session.execute(select(AuditLog).order_by(AuditLog.id)).scalars().all()  # type: ignore[arg-type]
        return [(r.actor, r.action, r.target_type, r.target_id) for r in rows]


def test_token_works_until_revoked(url: str, engine: Engine) -> None:
    token = make_token(engine, email=ADMIN, roles=[UserRole.ADMIN], name="reporting")
    with Session(engine) as session:
        row = session.execute(select(ApiToken)).scalars().one()
        assert token not in row.token_hash and len(row.token_hash) == 64  # SHA-256 only
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, timeout=10, headers=headers) as client:
        assert client.get("/admin/audit").status_code == 200
        with Session(engine) as session:
            assert session.execute(select(ApiToken)).scalars().one().last_used_at is not None
        with session_scope(engine) as session:
            revoke_token(session=session, name="reporting", actor="test")
        r = client.get("/admin/audit")
        assert r.status_code == 401 and "トークンが無効です" in r.text


def test_token_of_a_disabled_user_is_refused(url: str, engine: Engine) -> None:
    token = make_token(engine, email=EDITOR, roles=[UserRole.EDITOR], name="ed")
    with session_scope(engine) as session:
        set_active(session=session, email=EDITOR, active=False, actor="test")
    with httpx.Client(base_url=url, timeout=10) as client:
        r = client.get("/admin/audit.csv", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401


def test_logins_logouts_and_changes_are_audited(url: str, engine: Engine) -> None:
    with httpx.Client(base_url=url, timeout=10) as client:
        allow_secure_cookies_over_http(client)
        token = csrf_for(client, "/admin/login")
        client.post("/admin/login", data={"email": ADMIN, "password": "not-the-password",
                                          "csrf_token": token})
        login(client, url, ADMIN)
        client.post("/admin/logout-everywhere",
                    data={"csrf_token": csrf_for(client, "/admin/audit")})
        client.post("/admin/logout", data={"csrf_token": csrf_for(client, "/admin/audit")})
    actions = [(actor, action) for actor, action, _t, _i in _audit(engine)]
    assert actions == [
        ("test", "user.create"), ("test", "user.create"),
        (ADMIN, "auth.login_failed"), (ADMIN, "auth.login"),
        (ADMIN, "auth.logout_everywhere"), (ADMIN, "auth.logout"),
    ]


def test_audit_page_is_for_admins(url: str) -> None:
    with httpx.Client(base_url=url, timeout=10) as client:
        login(client, url, EDITOR)
        r = client.get("/admin/audit")
        assert r.status_code == 403 and "権限がありません" in r.text
        assert client.get("/admin/audit.csv").status_code == 403
    with httpx.Client(base_url=url, timeout=10) as client:
        login(client, url, ADMIN)
        r = client.get("/admin/audit", params={"action": "auth."})
        assert r.status_code == 200 and "<h1>監査ログ</h1>" in r.text
        assert "auth.login" in r.text and "user.create" not in r.text
        # the stored key is shown with its Japanese name; details are Japanese too
        assert 'ログイン <span class="muted">auth.login</span>' in r.text
        assert "IPアドレス 127.0.0.1" in r.text
        assert r.headers["cache-control"] == "no-store"


def test_csv_export_is_excel_safe(url: str, engine: Engine) -> None:
    record_audit(engine, actor='=HYPERLINK("http://evil.example","x")', action="auth.login_failed",
                 target_type="user", target_id="+1", detail="@SUM(A1)\n二行目")
    with httpx.Client(base_url=url, timeout=10) as client:
        login(client, url, ADMIN)
        r = client.get("/admin/audit.csv")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].startswith('attachment; filename="audit-')
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content[3:].decode("utf-8"), newline="")))
    assert rows[0] == ["日時", "実行者", "操作", "対象の種類", "対象", "詳細"]
    evil = next(row for row in rows if "HYPERLINK" in row[1])
    assert evil[1].startswith("'=") and evil[4] == "'+1" and evil[5] == "'@SUM(A1)\n二行目"
    assert ("=HYPERLINK" not in {row[1] for row in rows})
    assert any(row[2] == "auth.login" for row in rows)
    assert _audit(engine)[-1][:2] == (ADMIN, "audit.export")


def test_record_audit_takes_a_session_a_connection_or_an_engine(engine: Engine) -> None:
    with session_scope(engine) as session:
        record_audit(session, actor="a", action="x.session", target_type="t", target_id=1)
    with engine.begin() as conn:
        record_audit(conn, actor="a", action="x.conn", target_type="t", target_id="2")
    record_audit(engine, actor="a", action="x.engine", target_type="t", target_id=3,
                 detail="d")
    with session_scope(engine) as session:
        record_audit(session, actor="a", action="x.rolled-back", target_type="t", target_id=4)
        session.rollback()
    assert [row[1:] for row in _audit(engine)] == [
        ("x.session", "t", "1"), ("x.conn", "t", "2"), ("x.engine", "t", "3")]


def test_every_recorded_action_has_a_name_on_the_audit_page() -> None:
    """Each action key the code records is in AUDIT_ACTION_LABELS (else the
    page would show the bare key): the check reads the sources, so a new
    action without a name fails here."""
    keys: set[str] = set()
    for path in Path(mailer.__file__).parent.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if "record_audit" in text or "AUDIT" in text:
            keys |= set(re.findall(r'"((?:audit|auth|issue|part|send|subscriber|token|user)'
                                   r'\.[a-z_-]+)"', text))
    assert {"auth.login_locked", "send.schedule", "user.disable", "subscriber.erase"} <= keys
    assert sorted(keys - set(AUDIT_ACTION_LABELS)) == []
