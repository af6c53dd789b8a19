"""`mailer doctor`: check configuration, services, relays and DNS before sending."""

from __future__ import annotations

import os

import typer

from mailer.cli.common import fail, says
from mailer.i18n import _
from mailer.logging_setup import configure_logging
from mailer.ops.checks import Status, has_errors
from mailer.ops.doctor import run_doctor
from mailer.settings import Settings, load_settings

_COLOURS = {Status.OK: "green", Status.WARN: "yellow", Status.ERROR: "red"}


@says(_("設定、データベース、Redis、SMTP リレー、DKIM を確かめ、公開する DNS レコードを"
        "表示します。\n\nメールは送りません。エラーの項目があれば終了コード 1 で終わります。"))
def doctor() -> None:
    from mailer.render.html import TEMPLATES_DIR

    report = run_doctor(load_settings, templates_dir=TEMPLATES_DIR)
    for check in report.checks:
        status = typer.style(f"{check.status.value:<5}", fg=_COLOURS[check.status], bold=True)
        typer.echo(status + check.line()[5:])
    if report.records:
        typer.echo("")
        typer.echo(_("{domain} のために公開する DNS レコード:").format(domain=report.domain))
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
        fail(_("MAILER_LOG_FORMAT: 'text' か 'json' にしてください（{value} でした）").format(
            value=repr(fmt)), code=2)
