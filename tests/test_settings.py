"""Settings: bad and missing values give one clear line naming the variable."""

from __future__ import annotations

import pytest

from mailer.settings import SettingsError, load_settings

STRONG = "Zq8-vN3rTx6Lw1cYb9KmH4sJd7GfP2aE5uR0oXi"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os

    for key in list(os.environ):
        if key.startswith("MAILER_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_are_local_and_embedded() -> None:
    s = load_settings()
    assert s.env.value == "local"
    assert s.redis_url is None and s.smtp_url is None
    assert s.effective_database_url.startswith("sqlite:///")
    assert s.effective_database_url.endswith("var/mailer.db")
    assert s.from_address == "forum@mailer.example.com"


def test_placeholder_secret_refused_outside_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILER_ENV", "production")
    monkeypatch.setenv("MAILER_SECRET_KEY", "changeme")
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert str(err.value).startswith("MAILER_SECRET_KEY:")
    assert "\n" not in str(err.value)


def test_missing_secret_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILER_ENV", "production")
    with pytest.raises(SettingsError, match="MAILER_SECRET_KEY"):
        load_settings()


def test_real_secret_accepted_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILER_ENV", "production")
    monkeypatch.setenv("MAILER_SECRET_KEY", STRONG)
    assert load_settings().secret_key == STRONG


@pytest.mark.parametrize(
    ("var", "value", "needle"),
    [
        (
            "MAILER_SMTP_URL",
            "http://relay.example.com",
            "MAILER_SMTP_URL: 'http://relay.example.com': scheme",
        ),
        ("MAILER_SMTP_URL", "smtp://", "MAILER_SMTP_URL: smtp://…: a host is required"),
        ("MAILER_DATABASE_URL", "mysql://x", "MAILER_DATABASE_URL: must be a sqlite"),
        ("MAILER_REDIS_URL", "http://x", "MAILER_REDIS_URL: must be a redis:// URL"),
        ("MAILER_BASE_URL", "mailer.example.com", "MAILER_BASE_URL: must be an absolute"),
        ("MAILER_FROM", "nobody", "MAILER_FROM: must be an address"),
        ("MAILER_RATE_LIMIT", "fast", "MAILER_RATE_LIMIT:"),
        ("MAILER_ENV", "prod", "MAILER_ENV:"),
        ("MAILER_BATCH_SIZE", "0", "MAILER_BATCH_SIZE:"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, needle: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert needle in str(err.value)
    assert len(str(err.value).splitlines()) == 1


def test_several_bad_values_one_line_each(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILER_REDIS_URL", "http://x")
    monkeypatch.setenv("MAILER_BASE_URL", "nope")
    with pytest.raises(SettingsError) as err:
        load_settings()
    lines = str(err.value).splitlines()
    assert {line.split(":")[0] for line in lines} == {"MAILER_REDIS_URL", "MAILER_BASE_URL"}


def test_dotenv_file_is_read(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / ".env").write_text(
        "MAILER_LIST_NAME=テスト通信\nMAILER_SMTP_URL=smtps://u:p%40ss@relay.example.com\n",
        encoding="utf-8",
    )
    s = load_settings()
    assert s.list_name == "テスト通信"
    relay = s.relays()[0]
    assert (relay.scheme, relay.host, relay.port, relay.username, relay.password) == (
        "smtps",
        "relay.example.com",
        465,
        "u",
        "p@ss",
    )


def test_several_relays_in_failover_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "MAILER_SMTP_URL", "smtp+starttls://a.example.com, smtp://b.example.com:2525"
    )
    relays = load_settings().relays()
    assert [(r.name, r.starttls) for r in relays] == [
        ("a.example.com:587", True),
        ("b.example.com:2525", False),
    ]


def test_secret_from_file(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "secret"
    f.write_text(STRONG + "\n")
    monkeypatch.setenv("MAILER_ENV", "production")
    monkeypatch.setenv("MAILER_SECRET_KEY_FILE", str(f))
    assert load_settings().secret_key == STRONG


def test_unreadable_secret_file_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILER_SECRET_KEY_FILE", "/nonexistent/secret")
    with pytest.raises(
        SettingsError, match="MAILER_SECRET_KEY_FILE: cannot read /nonexistent/secret"
    ):
        load_settings()


@pytest.mark.parametrize(("var", "value"), [
    ("MAILER_LIST_NAME", "CIOフォーラム通信\r\nBcc: everyone@example.com"),
    ("MAILER_FROM", "事務局 <forum@example.com>\nBcc: everyone@example.com"),
    ("MAILER_LIST_ID", "cio-forum.example.com\r"),
    ("MAILER_PUBLISHER_ADDRESS", "東京都\x1b新宿区"),
    ("MAILER_BASE_URL", "https://mailer.example.com/\r\nX-Injected: 1"),
    ("MAILER_LIST_NAME", "CIOフォーラム\u202e信通"),
])
def test_a_control_character_in_a_setting_is_refused_naming_it(
        monkeypatch: pytest.MonkeyPatch, var: str, value: str) -> None:
    """Security issue #15 item 5: these values become mail headers."""
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert str(err.value).startswith(f"{var}: 制御文字 ")
    assert "\n" not in str(err.value)


def test_the_cli_prints_the_refused_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from mailer.cli import app

    monkeypatch.setenv("MAILER_LIST_NAME", "通信\r\nBcc: everyone@example.com")
    result = CliRunner().invoke(app, ["status", "1"])
    assert result.exit_code == 2
    assert "MAILER_LIST_NAME: 制御文字 CR (U+000D) を含んでいます" in result.output


def test_a_bad_choice_is_told_in_japanese_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """pydantic's English ("Input should be …") is not what staff read: a
    wrong MAILER_LANGUAGE, log format or number is one Japanese line each."""
    monkeypatch.setenv("MAILER_LANGUAGE", "fr")
    monkeypatch.setenv("MAILER_BATCH_SIZE", "abc")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    lines = str(caught.value).splitlines()
    assert "MAILER_LANGUAGE: 次のどれかで指定してください: 'ja' or 'en'" in lines
    assert "MAILER_BATCH_SIZE: 整数で指定してください" in lines
    assert "Input should" not in str(caught.value)


def test_an_unknown_language_does_not_break_the_import_of_commands(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Texts are looked up at import (help texts), before settings are read:
    an unknown MAILER_LANGUAGE speaks Japanese there instead of a traceback."""
    from mailer import i18n

    monkeypatch.setenv("MAILER_LANGUAGE", "fr")
    assert i18n.current_language() == "ja"
    assert i18n.gettext("完了") == "完了"
