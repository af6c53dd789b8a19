"""`mailer doctor`: check configuration, services, relays and DNS before sending."""

from __future__ import annotations

import os

import typer

from mailer.cli.common import fail
from mailer.logging_setup import configure_logging
from mailer.ops.checks import Status, has_errors
from mailer.ops.doctor import run_doctor
from mailer.settings import Settings, load_settings

_COLOURS = {Status.OK: "green", Status.WARN: "yellow", Status.ERROR: "red"}


def doctor() -> None:
    """Check configuration, database, Redis, SMTP relays and DKIM; print the DNS
    records to publish. Sends no mail. Exits 1 if any check is an error."""
    from mailer.render.html import TEMPLATES_DIR

    report = run_doctor(load_settings, templates_dir=TEMPLATES_DIR)
    for check in report.checks:
        status = typer.style(f"{check.status.value:<5}", fg=_COLOURS[check.status], bold=True)
        typer.echo(status + check.line()[5:])
    if report.records:
        typer.echo("")
        typer.echo(f"DNS records to publish for {report.domain}:")
        for record in report.records:
            typer.echo(f"  {record.record}")
            typer.echo(f"      ; {record.note}")
    if has_errors(report.checks):
        raise typer.Exit(1)


def setup_logging(settings: Settings | None = None, *, level: str = "INFO") -> None:
    """Configure logging for a long-running command (worker, beat, web).

    The format comes from `settings.log_format` once Settings has that field,
    until then from MAILER_LOG_FORMAT (`text` or `json`, default `text`).
    """
    fmt = getattr(settings, "log_format", None) or os.environ.get("MAILER_LOG_FORMAT") or "text"
    try:
        configure_logging(fmt=str(fmt), level=level)
    except ValueError:
        fail(f"MAILER_LOG_FORMAT: must be 'text' or 'json', got {fmt!r}", code=2)
