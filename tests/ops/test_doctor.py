"""`mailer doctor` against good and broken installations: real SQLite (and
PostgreSQL when configured), a private Redis, an aiosmtpd relay with STARTTLS
and AUTH, and DKIM keys made by openssl. Settings come from the environment."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
import typer
from ops_support import RELAY_PASSWORD, RELAY_USER
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from mailer.cli.ops import doctor
from mailer.db import make_engine, upgrade
from mailer.embedded.redis_server import EmbeddedRedis, free_port
from mailer.embedded.smtp_sink import SmtpSink
from mailer.i18n import use_language
from mailer.ops.checks import Status
from mailer.ops.probes import check_database
from mailer.testing.stack import TEST_SECRET

app = typer.Typer()
app.command()(doctor)


@app.command()
def _unused() -> None:  # a second command keeps `doctor` a named sub-command
    pass


runner = CliRunner()


@pytest.fixture(autouse=True)
def _in_english() -> Iterator[None]:
    """These tests read the doctor's lines in English (MAILER_LANGUAGE=en), the
    words its checks were written in; test_doctor_speaks_japanese reads the
    default."""
    with use_language("en"):
        yield


def run_doctor_cli() -> tuple[int, list[str]]:
    result = runner.invoke(app, ["doctor"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output.splitlines()


def line_of(lines: list[str], name: str) -> str:
    found = [ln for ln in lines if ln.split("  ", 1)[-1].lstrip().startswith(f"{name}:")]
    assert len(found) == 1, f"{name!r} in:\n" + "\n".join(lines)
    return found[0]


def relay_url(sink: SmtpSink, password: str = RELAY_PASSWORD) -> str:
    return f"smtp+starttls://{RELAY_USER}:{quote(password)}@127.0.0.1:{sink.port}"


@pytest.fixture
def redis_policy(private_redis: EmbeddedRedis) -> Iterator[redis.Redis]:
    """The private Redis set to noeviction with an append-only file; restored after."""
    client = redis.Redis.from_url(private_redis.url)
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("appendonly", "yes")
    try:
        yield client
    finally:
        client.config_set("maxmemory-policy", "noeviction")
        client.config_set("appendonly", "no")
        client.close()


@pytest.fixture
def good_env(
    redis_policy: redis.Redis,
    private_redis: EmbeddedRedis,
    relay: SmtpSink,
    cert: tuple[Path, Path],
    dkim_keys: dict[int, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """A production configuration where every check passes (on a migrated SQLite file)."""
    database_url = f"sqlite:///{tmp_path / 'mailer.db'}"
    upgrade(make_engine(database_url))
    for key in list(os.environ):
        if key.startswith("MAILER_") and not key.startswith("MAILER_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    env = {
        "MAILER_ENV": "production",
        "MAILER_DATABASE_URL": database_url,
        "MAILER_REDIS_URL": private_redis.url,
        "MAILER_SMTP_URL": relay_url(relay),
        "MAILER_SMTP_CA_FILE": str(cert[0]),
        "MAILER_SMTP_TIMEOUT": "5",
        "MAILER_FROM": "CIOフォーラム事務局 <forum@news.example.co.jp>",
        "MAILER_BOUNCE_DOMAIN": "bounce.example.co.jp",
        "MAILER_BASE_URL": "https://mailer.example.co.jp",
        "MAILER_SECRET_KEY": TEST_SECRET,
        "MAILER_DKIM_KEY_FILE": str(dkim_keys[2048]),
        "MAILER_DKIM_SELECTOR": "news2026",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return tmp_path


def test_good_configuration_passes_and_prints_dns_records(
    good_env: Path,
    relay: SmtpSink,
    engine: Engine,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAILER_DATABASE_URL", database_url)  # SQLite, and PostgreSQL if set
    code, lines = run_doctor_cli()
    checks = [ln for ln in lines if ln[:5].strip() in ("ok", "warn", "error")]
    assert code == 0, "\n".join(lines)
    assert all(ln.startswith("ok  ") for ln in checks), "\n".join(lines)
    for name in ("configuration", "database", "migrations", "redis", "redis eviction", "dkim"):
        line_of(lines, name)
    assert "STARTTLS, AUTH as editor" in line_of(lines, f"smtp 127.0.0.1:{relay.port}")
    assert not relay.accepted  # the doctor never sends mail
    out = "\n".join(lines)
    assert 'news2026._domainkey.news.example.co.jp TXT "v=DKIM1; k=rsa; p=' in out
    assert 'bounce.example.co.jp TXT "v=spf1 ip4:127.0.0.1 -all"' in out
    assert '_dmarc.example.co.jp TXT "v=DMARC1; p=quarantine; rua=mailto:' in out
    assert "bounce.example.co.jp MX" in out


def test_wrong_smtp_password(
    good_env: Path, relay: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILER_SMTP_URL", relay_url(relay, password="Wr0ng-Passw0rd"))
    code, lines = run_doctor_cli()
    assert code == 1
    line = line_of(lines, f"smtp 127.0.0.1:{relay.port}")
    assert line.startswith("error  ") and "authentication failed" in line
    assert "check the user and password in MAILER_SMTP_URL" in line
    assert "Wr0ng-Passw0rd" not in "\n".join(lines)  # never print the password


def test_relay_down(good_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv("MAILER_SMTP_URL", f"smtp+starttls://u:secret@127.0.0.1:{port}")
    code, lines = run_doctor_cli()
    assert code == 1
    line = line_of(lines, f"smtp 127.0.0.1:{port}")
    assert line.startswith("error  ") and "relay down: cannot connect" in line


def test_untrusted_relay_certificate(
    good_env: Path, relay: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MAILER_SMTP_CA_FILE")
    code, lines = run_doctor_cli()
    assert code == 1
    line = line_of(lines, f"smtp 127.0.0.1:{relay.port}")
    assert "TLS certificate not trusted" in line and "MAILER_SMTP_CA_FILE" in line


def test_second_relay_is_checked_too(
    good_env: Path, relay: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("MAILER_SMTP_URL", f"{relay_url(relay)},smtp://127.0.0.1:{port}")
    code, lines = run_doctor_cli()
    assert code == 1
    assert line_of(lines, f"smtp 127.0.0.1:{relay.port}").startswith("ok  ")
    assert line_of(lines, f"smtp 127.0.0.1:{port}").startswith("error  ")


def test_redis_with_an_eviction_policy(good_env: Path, redis_policy: redis.Redis) -> None:
    redis_policy.config_set("maxmemory-policy", "allkeys-lru")
    code, lines = run_doctor_cli()
    assert code == 1
    assert line_of(lines, "redis eviction") == (
        "error  redis eviction: maxmemory-policy is allkeys-lru — "
        "Redis may evict queued tasks: set maxmemory-policy noeviction"
    )


def test_redis_without_persistence_warns(good_env: Path, redis_policy: redis.Redis) -> None:
    redis_policy.config_set("appendonly", "no")
    redis_policy.config_set("save", "")
    code, lines = run_doctor_cli()
    assert code == 0
    assert line_of(lines, "redis persistence").startswith("warn   redis persistence: off")


def test_redis_unset_or_down(good_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAILER_REDIS_URL")
    code, lines = run_doctor_cli()
    assert code == 1
    assert "required outside `mailer demo`" in line_of(lines, "redis")
    monkeypatch.setenv("MAILER_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    code, lines = run_doctor_cli()
    assert code == 1
    assert "cannot connect" in line_of(lines, "redis")


def test_missing_migration(good_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with empty.connect() as conn:
        conn.execute(text("SELECT 1"))
    empty.dispose()
    monkeypatch.setenv("MAILER_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    code, lines = run_doctor_cli()
    assert code == 1
    assert line_of(lines, "database").startswith("ok  ")
    line = line_of(lines, "migrations")
    assert line.startswith("error  migrations: missing migration")
    assert line.endswith("run `mailer db upgrade`")


def test_sqlite_file_is_not_created(
    good_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere" / "mailer.db"
    monkeypatch.setenv("MAILER_DATABASE_URL", f"sqlite:///{missing}")
    code, lines = run_doctor_cli()
    assert code == 1
    assert "does not exist" in line_of(lines, "database")
    assert not missing.exists() and not missing.parent.exists()


def test_database_down(good_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "MAILER_DATABASE_URL", f"postgresql://mailer:hunter2hunter2@127.0.0.1:{free_port()}/mailer"
    )
    code, lines = run_doctor_cli()
    assert code == 1
    line = line_of(lines, "database")
    assert "cannot connect" in line and "hunter2" not in "\n".join(lines)


def test_short_dkim_key(
    good_env: Path, dkim_keys: dict[int, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILER_DKIM_KEY_FILE", str(dkim_keys[1024]))
    code, lines = run_doctor_cli()
    assert code == 1
    line = line_of(lines, "dkim")
    assert line.startswith("error  dkim: DKIM key") and "1024 bits" in line and "2048" in line
    assert "_domainkey" not in "\n".join(lines)  # no record for a key we refuse


def test_bad_configuration_stops_at_the_first_check(
    good_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILER_SMTP_URL", "ftp://relay.example.jp")
    monkeypatch.setenv("MAILER_BATCH_SIZE", "0")
    code, lines = run_doctor_cli()
    assert code == 1
    assert [ln.split(":")[0] for ln in lines] == ["error  configuration"] * 2
    assert any("MAILER_SMTP_URL" in ln for ln in lines)
    assert any("MAILER_BATCH_SIZE" in ln for ln in lines)


def test_production_warnings(good_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILER_BASE_URL", "http://mailer.example.co.jp")
    monkeypatch.setenv("MAILER_BOUNCE_DOMAIN", "bounces.mailer-hosting.example.net")
    code, lines = run_doctor_cli()
    assert code == 0, "\n".join(lines)
    assert line_of(lines, "base url").startswith(
        "warn   base url: MAILER_ENV=production with http://"
    )
    line = line_of(lines, "alignment")
    assert line.startswith("warn  ") and "bounce.example.co.jp" in line


# -- the check functions on their own ----------------------------------------


def _check(current: str | None, *, known: bool = True) -> tuple[Status, str]:
    engine = make_engine("sqlite://")
    [_, result] = check_database(
        "sqlite://",
        make_engine=lambda url: engine,
        current_revision=lambda e: current,
        head_revision=lambda: "0002",
        known_revision=lambda rev: known,
    )
    return result.status, result.message


def test_migration_states() -> None:
    assert _check("0002")[0] is Status.OK
    assert _check("0001") == (
        Status.ERROR,
        "missing migration: the database is at 0001, the code needs 0002",
    )
    assert _check(None)[1].startswith("missing migration")
    status, message = _check("0003", known=False)
    assert status is Status.ERROR and "unknown to this version" in message


def test_doctor_speaks_japanese_by_default(good_env: Path) -> None:
    with use_language("ja"):
        code, lines = run_doctor_cli()
    assert code == 0, "\n".join(lines)
    assert any(ln.startswith("正常  構成: 読み込めます（MAILER_ENV=production）") for ln in lines)
    assert any(ln.startswith("正常  データベース: ") and ln.endswith(": 接続できます")
               for ln in lines), "\n".join(lines)
    assert any("のために公開する DNS レコード:" in ln for ln in lines)
