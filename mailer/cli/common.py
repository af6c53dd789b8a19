"""Shared CLI helpers: settings with one-line errors, time parsing, output."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar
from zoneinfo import ZoneInfo

import typer
from rich.console import Console

from mailer.i18n import _
from mailer.services.errors import ServiceError
from mailer.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

F = TypeVar("F")

TOKYO = ZoneInfo("Asia/Tokyo")
console = Console()
err_console = Console(stderr=True)


def says(help_text: str) -> Callable[[F], F]:
    """Give a verb function its `--help` text from the catalogue.

    typer reads a command's help from its function's docstring, which the
    catalogue cannot see; this sets it from a `_()` text instead (looked up
    at import, which is once per process, as MAILER_LANGUAGE is)."""

    def mark(function: F) -> F:
        function.__doc__ = help_text
        return function

    return mark


def error_prefix() -> str:
    """The one prefix of every error line the CLI prints (rich markup)."""
    return "[bold red]" + _("エラー:") + "[/]"


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"{error_prefix()} {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def fail_service(exc: ServiceError) -> NoReturn:
    """Print a refused use case as the web shows it (field first) and exit 1."""
    fail(exc.message)


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        for line in str(exc).splitlines():
            err_console.print(f"{error_prefix()} {line}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def refuse_weak_key(settings: Settings, *, listen_host: str | None = None) -> None:
    """Exit 78 with one Japanese line when MAILER_SECRET_KEY is the built-in or a
    weak key and this process is not purely local (MAILER_ENV=local with the
    listen address, database, broker and relays all on loopback). Long-running
    commands call this before they connect or listen."""
    from mailer.cli.errors import EXIT_CONFIG, Fault, report
    from mailer.exposure import weak_key_refusal

    refusal = weak_key_refusal(settings, listen_host=listen_host)
    if refusal is not None:
        report(Fault(refusal, EXIT_CONFIG))
        raise typer.Exit(EXIT_CONFIG)


def open_engine(settings: Settings) -> Engine:
    """Return an engine on the configured database, which must have the schema.

    Raises DatabaseNotReady (one line and exit 78, see mailer.cli.errors) when
    it has none, and for a SQLite file that does not exist, without creating
    it: a mistyped path must not become a new empty database. Only `mailer db
    upgrade` and `mailer demo` create a schema. A database that does not answer
    raises the driver's error, translated the same way.
    """
    from mailer.cli.errors import DatabaseNotReady
    from mailer.db import has_schema, make_engine

    url = settings.effective_database_url
    if url.startswith("sqlite") and "///" in url:
        path = url.split("///", 1)[-1].split("?", 1)[0]
        if path and path != ":memory:" and not Path(path).is_file():
            raise DatabaseNotReady(url, missing_file=True)
    engine = make_engine(url)
    if not has_schema(engine):
        engine.dispose()
        raise DatabaseNotReady(url)
    return engine


def ping_redis(url: str, *, timeout: float = 5.0) -> None:
    """Return once Redis at `url` answers; raise the redis client's error (one
    line and exit 69 through mailer.cli.errors) when it does not within
    `timeout` seconds. Long-running commands call this before they start, so
    a broker that is down is said in one line instead of a retry loop."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    finally:
        client.close()


def parse_time(text: str, *, option: str = "--at") -> datetime:
    """Return an aware datetime; a time without an offset is Asia/Tokyo."""
    try:
        value = datetime.fromisoformat(text.strip().replace("/", "-"))
    except ValueError:
        fail(
            _("{option} {text}: ISO 8601 の日時ではありません（例: 2026-12-01T09:00 または "
              "2026-12-01T09:00+09:00）").format(option=option, text=repr(text))
        )
    return value if value.tzinfo else value.replace(tzinfo=TOKYO)


def tokyo(value: datetime | None) -> str:
    return value.astimezone(TOKYO).strftime("%Y-%m-%d %H:%M:%S JST") if value else "-"
