"""The secret key (security issue #15, items 1 and 4): the built-in or a weak
MAILER_SECRET_KEY never signs for a process that others can reach, a weak
production key does not load, and `mailer doctor` calls it an error."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mailer.cli import app
from mailer.cli.errors import EXIT_CONFIG
from mailer.exposure import exposure, is_loopback
from mailer.ops.checks import Status
from mailer.ops.doctor import check_secret_keys
from mailer.secrets_check import BUILT_IN_KEY, key_weakness
from mailer.settings import SettingsError, load_settings
from mailer.testing.stack import TEST_SECRET

MAILER = str(Path(sys.executable).with_name("mailer"))
RECIPE = "secrets.token_urlsafe(48)"


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """No MAILER_* settings (so the built-in key and MAILER_ENV=local), in an empty folder."""
    for key in list(os.environ):
        if key.startswith("MAILER_") and not key.startswith("MAILER_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}


def assert_refusal(code: int, err: str) -> None:
    lines = err.strip().splitlines()
    assert code == EXIT_CONFIG, err
    assert len(lines) == 1, err
    assert "MAILER_SECRET_KEY" in lines[0] and RECIPE in lines[0]
    assert "起動しません" in lines[0]


# -- the weakness rule ---------------------------------------------------------------


@pytest.mark.parametrize(("key", "says"), [
    (BUILT_IN_KEY, "組み込み"),
    ("a" * 32, "繰り返し"),
    ("changemechangemechangemechangeme", "changeme"),
    ("short-but-random-Xq9", "短すぎます"),
    ("my-production-secret-for-the-mailer-2026", "secret"),
    ("abababababababababababababababab", "繰り返し"),
    ("0101010110101010011001011010100110", "多すぎます"),
    ("abcdefghijklmnopqrstuvwxyz0123456789", "推測されやすい"),
    ("xxxxxxxx-real-looking-key-Q7w2Lz9Rk4Tm", "xxxx"),
])
def test_weak_keys(key: str, says: str) -> None:
    reason = key_weakness(key)
    assert reason is not None and says in reason


def test_generated_keys_are_strong() -> None:
    assert key_weakness(TEST_SECRET) is None
    for _ in range(20):
        assert key_weakness(secrets.token_urlsafe(48)) is None
        assert key_weakness(secrets.token_hex(32)) is None


@pytest.mark.parametrize("key", ["a" * 32, "changemechangemechangemechangeme", BUILT_IN_KEY])
def test_a_weak_production_key_does_not_load(key: str, clean_env: dict[str, str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILER_ENV", "production")
    monkeypatch.setenv("MAILER_SECRET_KEY", key)
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert str(err.value).startswith("MAILER_SECRET_KEY: ")
    assert RECIPE in str(err.value) and "\n" not in str(err.value)


def test_loopback_and_exposure(clean_env: dict[str, str]) -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "::1", "[::1]", "localhost", "", None))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.5", "db.internal"))
    local = load_settings()
    assert exposure(local, listen_host="127.0.0.1") == []
    assert exposure(local, listen_host="0.0.0.0") == ["待ち受けアドレス 0.0.0.0"]
    remote = load_settings(database_url="postgresql://m:p@db.internal/m",
                           redis_url="redis://127.0.0.1:6379/0",
                           smtp_url="smtp://relay.example.jp:25")
    assert exposure(remote) == ["データベース db.internal", "SMTP リレー relay.example.jp"]


# -- refusing to start ---------------------------------------------------------------


def test_web_on_all_addresses_with_the_built_in_key_exits_78(clean_env: dict[str, str]) -> None:
    # The database does not exist: a web that got past the key check would
    # say so (exit 78 too, but about the database); it never gets to listen.
    run = subprocess.run([MAILER, "web", "--host", "0.0.0.0", "--port", "1"], env=clean_env,
                         capture_output=True, text=True, timeout=60, check=False)
    assert_refusal(run.returncode, run.stderr)
    assert "待ち受けアドレス 0.0.0.0" in run.stderr and "組み込み" in run.stderr


def test_web_on_loopback_with_the_built_in_key_passes_the_key_check(
        clean_env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["web", "--host", "127.0.0.1"])
    assert result.exit_code == EXIT_CONFIG  # no database: the next check, not the key
    assert "MAILER_SECRET_KEY" not in result.output
    assert "SQLite のデータベースファイルがありません" in result.output


@pytest.mark.parametrize("args", [
    ["worker"], ["beat"], ["bounces", "serve"], ["bounces", "import", "."],
])
def test_workers_with_a_remote_broker_refuse_the_built_in_key(
        args: list[str], clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    # redis.internal does not resolve: without the key check the command would
    # fail on the broker (69) or the database instead.
    monkeypatch.setenv("MAILER_REDIS_URL", "redis://redis.internal:6379/0")
    monkeypatch.setenv("MAILER_DATABASE_URL", "postgresql://mailer:pw@db.internal:5432/mailer")
    result = CliRunner().invoke(app, args)
    assert_refusal(result.exit_code, result.output)
    assert "データベース db.internal" in result.output


def test_bounces_serve_on_all_addresses_refuses_a_weak_key(
        clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILER_SECRET_KEY", "a" * 40)
    result = CliRunner().invoke(app, ["bounces", "serve", "--host", "0.0.0.0", "--port", "1"])
    assert_refusal(result.exit_code, result.output)
    assert "繰り返し" in result.output


def test_a_strong_key_passes_outside_loopback(clean_env: dict[str, str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILER_SECRET_KEY", TEST_SECRET)
    result = CliRunner().invoke(app, ["web", "--host", "0.0.0.0", "--port", "1"])
    assert result.exit_code == EXIT_CONFIG  # the missing database, not the key
    assert "MAILER_SECRET_KEY" not in result.output


# -- doctor --------------------------------------------------------------------------


def _secret_check(checks: list, name: str = "secret key"):  # type: ignore[no-untyped-def]
    found = [c for c in checks if c.name == name]
    assert len(found) == 1, checks
    return found[0]


def test_doctor_calls_the_built_in_key_an_error(clean_env: dict[str, str]) -> None:
    check = _secret_check(check_secret_keys(load_settings()))
    assert check.status is Status.ERROR and "組み込み" in check.line()


def test_doctor_warns_about_a_weak_retired_key(clean_env: dict[str, str]) -> None:
    settings = load_settings(secret_key=TEST_SECRET, old_secret_keys=BUILT_IN_KEY)
    checks = check_secret_keys(settings)
    assert _secret_check(checks).status is Status.OK
    assert _secret_check(checks, "old secret keys").status is Status.WARN


def test_doctor_names_a_weak_production_key(clean_env: dict[str, str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from mailer.ops.doctor import run_doctor

    monkeypatch.setenv("MAILER_ENV", "production")
    monkeypatch.setenv("MAILER_SECRET_KEY", "a" * 32)
    report = run_doctor(load_settings)
    check = _secret_check(report.checks)
    assert check.status is Status.ERROR and "MAILER_SECRET_KEY" in check.line()
