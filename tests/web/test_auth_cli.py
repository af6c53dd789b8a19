"""`mailer users …` and `mailer tokens …` (the typer apps, run in-process)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import Session
from typer.testing import CliRunner

from mailer.cli.users import tokens_app, users_app
from mailer.db import make_engine, upgrade
from mailer.models import ApiToken, AuditLog, User
from mailer.services.accounts import hash_password, token_hash, verify_password

runner = CliRunner()
PASSWORD = "sakura-momiji-2026"


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for key in list(os.environ):
        if key.startswith("MAILER_") and not key.startswith("MAILER_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("MAILER_DATABASE_URL", url)
    upgrade(make_engine(url))  # `mailer db upgrade`: no other command creates the schema
    yield url


def _users(url: str) -> dict[str, User]:
    engine = make_engine(url)
    with Session(engine) as session:
        return {u.email: u for u in session.execute(select(User)).scalars()}


def test_create_with_prompt_list_and_disable(db: str) -> None:
    r = runner.invoke(users_app, ["create", "Kanri@Metro.example.jp", "--role", "editor",
                                  "--role", "approver", "--name", "管理 太郎"],
                      input=f"{PASSWORD}\n{PASSWORD}\n")
    assert r.exit_code == 0, r.output
    user = _users(db)["kanri@metro.example.jp"]
    assert user.roles == "approver;editor" and user.name == "管理 太郎" and user.active
    assert user.password_hash.startswith("$argon2") and verify_password(user.password_hash,
                                                                        PASSWORD)
    r = runner.invoke(users_app, ["list"])
    assert r.exit_code == 0 and "kanri@metro.example.jp" in r.output
    r = runner.invoke(users_app, ["disable", "kanri@metro.example.jp"])
    assert r.exit_code == 0
    user = _users(db)["kanri@metro.example.jp"]
    assert not user.active and user.session_epoch == 1


def test_password_file_and_weak_passwords(db: str, tmp_path: Path) -> None:
    weak = tmp_path / "weak"
    weak.write_text("short\n", encoding="utf-8")
    r = runner.invoke(users_app, ["create", "a@metro.example.jp", "--role", "viewer",
                                  "--password-file", str(weak)])
    assert r.exit_code == 1 and "12 文字以上" in r.output
    good = tmp_path / "good"
    good.write_text(PASSWORD + "\n", encoding="utf-8")
    r = runner.invoke(users_app, ["create", "a@metro.example.jp", "--role", "viewer",
                                  "--password-file", str(good)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(users_app, ["create", "a@metro.example.jp", "--role", "viewer",
                                  "--password-file", str(good)])
    assert r.exit_code == 1 and "ユーザー a@metro.example.jp はもういます" in r.output
    r = runner.invoke(users_app, ["create", "b@metro.example.jp", "--role", "boss",
                                  "--password-file", str(good)])
    assert r.exit_code != 0


def test_tokens_create_print_once_and_revoke(db: str, tmp_path: Path) -> None:
    good = tmp_path / "pw"
    good.write_text(PASSWORD, encoding="utf-8")
    runner.invoke(users_app, ["create", "e@metro.example.jp", "--role", "editor",
                              "--password-file", str(good)])
    r = runner.invoke(tokens_app, ["create", "e@metro.example.jp", "--name", "ci",
                                   "--role", "approver"])
    assert r.exit_code == 1 and "次の役割を持っていません：approver" in r.output
    r = runner.invoke(tokens_app, ["create", "e@metro.example.jp", "--name", "ci",
                                   "--role", "editor"])
    assert r.exit_code == 0, r.output
    token = r.output.strip().splitlines()[-1]
    assert token.startswith("mlr_")
    engine = make_engine(db)
    with Session(engine) as session:
        row = session.execute(select(ApiToken)).scalars().one()
        assert row.token_hash == token_hash(token) and row.roles == "editor"
    r = runner.invoke(tokens_app, ["create", "e@metro.example.jp", "--name", "ci",
                                   "--role", "editor"])
    assert r.exit_code == 1 and "トークン「ci」はもうあります" in r.output
    r = runner.invoke(tokens_app, ["list"])
    assert r.exit_code == 0 and "ci" in r.output and token not in r.output
    r = runner.invoke(tokens_app, ["revoke", "ci"])
    assert r.exit_code == 0
    r = runner.invoke(tokens_app, ["revoke", "ci"])
    assert r.exit_code == 1 and "有効なトークン「" in r.output
    with Session(engine) as session:
        actions = [a.action for a in session.execute(select(AuditLog)).scalars()]
        actors = {a.actor for a in session.execute(select(AuditLog)).scalars()}
    assert actions == ["user.create", "token.create", "token.revoke"]
    assert all(a.startswith("cli:") for a in actors)


def test_hash_is_salted() -> None:
    assert hash_password(PASSWORD) != hash_password(PASSWORD)


def test_demo_staff_password_creates_then_resets_the_account(db: str) -> None:
    """`mailer demo --serve` hands out demo@example.jp: every role, a new password
    each run; a disabled or narrowed account is restored and old sessions end."""
    from mailer.demo import DEMO_STAFF_EMAIL, demo_staff_password
    from mailer.models import UserRole

    first = demo_staff_password(db)
    user = _users(db)[DEMO_STAFF_EMAIL]
    assert set(user.roles.split(";")) == {r.value for r in UserRole} and user.active
    assert verify_password(user.password_hash, first)
    r = runner.invoke(users_app, ["disable", DEMO_STAFF_EMAIL])
    assert r.exit_code == 0
    second = demo_staff_password(db)
    user = _users(db)[DEMO_STAFF_EMAIL]
    assert second != first and user.active and user.session_epoch >= 2
    assert verify_password(user.password_hash, second)
    assert not verify_password(user.password_hash, first)


@pytest.mark.parametrize(("weak", "why"), [
    ("password1234", "よく使われるパスワード"),
    ("123456789012", "よく使われるパスワード"),
    ("abcdefghijklmn", "連続"),
])
def test_common_and_trivial_passwords_are_refused(db: str, tmp_path: Path, weak: str,
                                                  why: str) -> None:
    """Security issue #15 item 4: long enough is not strong enough."""
    file = tmp_path / "pw"
    file.write_text(weak + "\n", encoding="utf-8")
    r = runner.invoke(users_app, ["create", "a@metro.example.jp", "--role", "viewer",
                                  "--password-file", str(file)])
    assert r.exit_code == 1 and why in r.output, r.output
    assert "推測されやすい" in r.output
    assert _users(db) == {}
    good = tmp_path / "good"
    good.write_text(PASSWORD, encoding="utf-8")
    assert runner.invoke(users_app, ["create", "a@metro.example.jp", "--role", "viewer",
                                     "--password-file", str(good)]).exit_code == 0
    r = runner.invoke(users_app, ["set-password", "a@metro.example.jp",
                                  "--password-file", str(file)])
    assert r.exit_code == 1 and why in r.output
    assert verify_password(_users(db)["a@metro.example.jp"].password_hash, PASSWORD)
