"""One line for every fault an operator can meet at the command line.

A database or Redis that is down, a password refused, a full disk or a
database without the schema is not a bug: the operator gets one Japanese line
saying what failed, where (password masked) and what to try, and an exit
status that a script can tell from a usage error. Tracebacks only with
`mailer --debug …`.

The translation happens once, around every command, in `TranslatingGroup`
(the top-level typer group). Classifying an exception never imports a driver:
an exception of a driver's type can exist only once that driver is loaded, so
we look the modules up in `sys.modules` (commands stay quick to start).
"""

from __future__ import annotations

import errno
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from mailer.i18n import _

#: exit statuses (documented in docs/operations.md)
EXIT_FAILED = 1  # the command ran and refused or failed (e.g. no such part)
EXIT_USAGE = 2  # a mistyped command or option, or a MAILER_* setting that does not load
EXIT_UNAVAILABLE = 69  # a service is unavailable (sysexits EX_UNAVAILABLE)
EXIT_CONFIG = 78  # the configuration cannot run (sysexits EX_CONFIG): a weak secret key, …
EXIT_NO_SCHEMA = EXIT_CONFIG  # … or a database without the mailer schema


class DatabaseNotReady(Exception):
    """The configured database has no mailer schema, or (SQLite) no file.

    Raised by `open_engine`; translated by `TranslatingGroup`.
    """

    def __init__(self, url: str, *, missing_file: bool = False) -> None:
        super().__init__(url)
        self.url = url
        self.missing_file = missing_file


@dataclass(frozen=True)
class Fault:
    """What to tell the operator: one line and an exit status."""

    message: str
    code: int


def mask(url: str) -> str:
    """Return `url` with its password replaced by ***."""
    from mailer.settings import redact_url

    return redact_url(url)


def _settings() -> Any:
    """The settings, or None when they do not load (the fault line then names
    no address rather than failing a second time)."""
    from mailer.settings import SettingsError, load_settings

    try:
        return load_settings()
    except SettingsError:
        return None


def _database_place(url: str | None) -> str:
    """`host:port (masked URL)` for a server, the file for SQLite."""
    if not url:
        return "(MAILER_DATABASE_URL)"
    if url.startswith("sqlite"):
        return url.split("///", 1)[-1] or url
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # an unparsable URL: show it, masked
        return mask(url)
    where = f"{parsed.host or _('ローカルソケット')}:{parsed.port or 5432}"
    return f"{where} ({mask(url)})"


def _redis_place(url: str | None) -> str:
    if not url:
        return "(MAILER_REDIS_URL)"
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    where = f"{parts.hostname or 'localhost'}:{parts.port or 6379}"
    return f"{where} ({mask(url)})"


def _first_line(exc: BaseException) -> str:
    from mailer.logging_setup import redact

    text = " ".join(str(exc).split())
    return redact(text)[:200] or type(exc).__name__


def _reason(text: str) -> str:
    """The driver's words for a failed connection, in Japanese where known."""
    lowered = text.lower()
    if "connection refused" in lowered:
        return _("接続を拒否されました")
    if "timeout" in lowered or "timed out" in lowered:
        return _("応答がありません")
    if "could not translate host name" in lowered or "name or service not known" in lowered:
        return _("ホスト名を解決できません")
    if "no such file or directory" in lowered:
        return _("ソケットがありません")
    return text


def database_fault(exc: BaseException, url: str | None) -> Fault | None:
    """Translate a database error (SQLAlchemy or driver) into a Fault, or None."""
    where = _database_place(url)
    orig = getattr(exc, "orig", None) or exc
    text = _first_line(orig)
    lowered = text.lower()
    name = type(orig).__name__
    if name == "UndefinedTable" or "no such table" in lowered:
        return no_schema_fault(url or "(MAILER_DATABASE_URL)")
    if name == "DiskFull" or "database or disk is full" in lowered or "disk i/o error" in lowered:
        return Fault(
            _("データベースに書き込めません (ディスクがいっぱいか入出力エラー): {where}。"
              "空き容量を作ってから、もう一度実行してください。").format(where=where),
            EXIT_UNAVAILABLE,
        )
    if "password authentication failed" in lowered or name in (
        "InvalidPassword",
        "InvalidAuthorizationSpecification",
    ):
        return Fault(
            _("データベースがユーザー名かパスワードを受け付けません: {where}。"
              "MAILER_DATABASE_URL のユーザー名とパスワードを確かめてください。"
              ).format(where=where),
            EXIT_UNAVAILABLE,
        )
    if name == "InvalidCatalogName" or ("database" in lowered and "does not exist" in lowered):
        return Fault(
            _("データベースがありません: {where}。"
              "MAILER_DATABASE_URL のデータベース名を確かめるか、"
              "データベースを作成して mailer db upgrade を実行してください。"
              ).format(where=where),
            EXIT_UNAVAILABLE,
        )
    if "unable to open database file" in lowered:
        return Fault(
            _("SQLite のファイルを開けません: {where}。フォルダと権限、"
              "MAILER_DATABASE_URL のパスを確かめてください。").format(where=where),
            EXIT_UNAVAILABLE,
        )
    if name in ("OperationalError", "InterfaceError"):
        return Fault(
            _("データベースに接続できません: {where} — {reason}。"
              "PostgreSQL が動いているか、MAILER_DATABASE_URL のホストとポートを確かめてください。"
              ).format(where=where, reason=_reason(text)),
            EXIT_UNAVAILABLE,
        )
    return None


def no_schema_fault(url: str, *, missing_file: bool = False) -> Fault:
    demo = ""
    if missing_file:
        path = url.split("///", 1)[-1]
        what = _("SQLite のデータベースファイルがありません: {path}").format(path=path)
        demo = _demo_hint(Path(path))
    else:
        what = _("データベースに mailer のテーブルがありません: {url}").format(url=mask(url))
        demo = ""
    return Fault(
        _("{what}。MAILER_DATABASE_URL の打ち間違いでないか確かめ、"
          "新しいデータベースなら mailer db upgrade を実行してください。").format(what=what)
        + demo,
        EXIT_NO_SCHEMA,
    )


def _demo_hint(missing: Path) -> str:
    """Where `mailer demo` keeps its data, when the missing file is the default
    <var>/mailer.db and <var>/demo/mailer.db exists (a newcomer who ran
    `make demo` and then `mailer issue list` looks there), else ""."""
    demo = missing.parent / "demo" / "mailer.db"
    if missing.name != "mailer.db" or not demo.is_file():
        return ""
    return _("mailer demo のデータは {path} にあります（コマンドで見るには "
             "MAILER_DATABASE_URL=sqlite:///{absolute} を付けて実行、"
             "管理画面で見るには mailer demo --serve）。").format(
                 path=demo, absolute=demo.absolute())


def redis_fault(exc: BaseException, url: str | None) -> Fault:
    """Translate a Redis (or Celery broker) error into a Fault."""
    where = _redis_place(url)
    text = _first_line(exc)
    lowered = text.lower()
    if type(exc).__name__ == "AuthenticationError" or "noauth" in lowered or "wrongpass" in lowered:
        return Fault(
            _("Redis がパスワードを受け付けません: {where}。"
              "MAILER_REDIS_URL のパスワードを確かめてください。").format(where=where),
            EXIT_UNAVAILABLE,
        )
    return Fault(
        _("Redis に接続できません: {where} — {reason}。"
          "Redis が動いているか、MAILER_REDIS_URL のホストとポートを確かめてください。").format(
            where=where, reason=_reason(text)),
        EXIT_UNAVAILABLE,
    )


def _is(exc: BaseException, module: str, *names: str) -> bool:
    """Is `exc` an instance of `module.name` (for a module already loaded)?"""
    loaded = sys.modules.get(module)
    if loaded is None:
        return False
    types = tuple(t for t in (getattr(loaded, n, None) for n in names) if isinstance(t, type))
    return bool(types) and isinstance(exc, types)


def translate(exc: BaseException) -> Fault | None:
    """Return the Fault for an operational error, or None for anything else
    (a bug keeps its traceback)."""
    if isinstance(exc, DatabaseNotReady):
        return no_schema_fault(exc.url, missing_file=exc.missing_file)
    if _is(exc, "sqlalchemy.exc", "DBAPIError") or _is(
        exc, "psycopg", "OperationalError", "InterfaceError"
    ):
        settings = _settings()
        url = settings.effective_database_url if settings is not None else None
        return database_fault(exc, url)
    if _is(exc, "redis.exceptions", "ConnectionError", "TimeoutError", "AuthenticationError") or (
        _is(exc, "kombu.exceptions", "OperationalError")
    ):
        settings = _settings()
        return redis_fault(exc, settings.redis_url if settings is not None else None)
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return Fault(
            _("ディスクがいっぱいです: {file}。"
              "空き容量を作ってから、もう一度実行してください。").format(file=exc.filename or ""),
            EXIT_UNAVAILABLE,
        )
    return None


def report(fault: Fault) -> None:
    """Print the fault's line on stderr (one line, however wide the terminal)."""
    from rich.console import Console

    err_console = Console(stderr=True)  # not cli.common's: that module imports this one

    prefix = "[bold red]" + _("エラー:") + "[/]"  # as cli.common.error_prefix
    err_console.print(f"{prefix} {fault.message}", highlight=False, soft_wrap=True)


class TranslatingGroup(TyperGroup):
    """The top-level command group: runs the command and turns an operational
    error into one line and its exit status (a traceback only with --debug)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (TyperException, typer.Exit, typer.Abort):  # usage errors, exits: typer's own
            raise
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            fault = translate(exc)
            if fault is None:
                raise
            report(fault)
            raise typer.Exit(fault.code) from None
