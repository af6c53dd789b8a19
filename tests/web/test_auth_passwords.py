"""Staff passwords (security issue #15, item 4): the account service refuses
common passwords and trivial patterns with a Japanese reason, whichever door
asks (the CLI's own test is in test_auth_cli.py; no admin page sets one)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from mailer.db import session_scope
from mailer.services.accounts import AccountError, create_user, get_user, set_password
from mailer.services.passwords import password_problem

EMAIL = "kanri@metro.example.jp"


@pytest.mark.parametrize(("password", "why"), [
    ("password1234", "よく使われるパスワード"),
    ("123456789012", "よく使われるパスワード"),
    ("qwertyuiopasdf", "よく使われるパスワード"),
    ("zzzzzzzzzzzzzz", "繰り返し"),
    ("abcdefghijklmn", "連続"),
    ("19870512tokyo", "日付"),
    (EMAIL, "メールアドレス"),
    ("short", "12 文字以上"),
])
def test_weak_passwords_are_refused_with_a_japanese_reason(password: str, why: str) -> None:
    problem = password_problem(password, user_inputs=[EMAIL])
    assert problem is not None and why in problem


@pytest.mark.parametrize("password", [
    "correct-horse-battery-staple", "sakura-momiji-2026", "さくら-電卓-港-ひまわり",
])
def test_good_passwords_pass(password: str) -> None:
    assert password_problem(password, user_inputs=[EMAIL]) is None


def test_the_service_refuses_them_on_create_and_on_change(engine: Engine) -> None:
    for weak in ("password1234", "123456789012"):
        with pytest.raises(AccountError, match="推測されやすい"), \
                session_scope(engine) as session:
            create_user(session=session, email=EMAIL, roles=["viewer"], password=weak,
                        actor="test")
    with session_scope(engine) as session:
        assert get_user(session=session, email=EMAIL) is None
        create_user(session=session, email=EMAIL, roles=["viewer"],
                    password="correct-horse-battery-staple", actor="test")
    with pytest.raises(AccountError, match="よく使われるパスワード"), \
            session_scope(engine) as session:
        set_password(session=session, email=EMAIL, password="password1234", actor="test")
