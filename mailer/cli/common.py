"""Shared CLI helpers: settings with one-line errors, time parsing, output."""

from __future__ import annotations

from datetime import datetime
from typing import NoReturn
from zoneinfo import ZoneInfo

import typer
from rich.console import Console

from mailer.services.errors import ServiceError
from mailer.settings import Settings, SettingsError, load_settings

TOKYO = ZoneInfo("Asia/Tokyo")
console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def fail_service(exc: ServiceError) -> NoReturn:
    """Print a refused use case as the web shows it (field first) and exit 1."""
    fail(exc.message)


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        for line in str(exc).splitlines():
            err_console.print(f"[bold red]error:[/] {line}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def parse_time(text: str, *, option: str = "--at") -> datetime:
    """Return an aware datetime; a time without an offset is Asia/Tokyo."""
    try:
        value = datetime.fromisoformat(text.strip().replace("/", "-"))
    except ValueError:
        fail(
            f"{option} {text!r}: not an ISO 8601 time (e.g. 2026-12-01T09:00 or "
            "2026-12-01T09:00+09:00)"
        )
    return value if value.tzinfo else value.replace(tzinfo=TOKYO)


def tokyo(value: datetime | None) -> str:
    return value.astimezone(TOKYO).strftime("%Y-%m-%d %H:%M:%S JST") if value else "-"
