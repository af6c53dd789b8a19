"""`mailer doctor`: check configuration, services, relays and DNS before sending."""

from __future__ import annotations

import os

import typer

from mailer.cli.common import fail, says
from mailer.i18n import N_, _
from mailer.logging_setup import configure_logging
from mailer.ops.checks import Check, Status, has_errors
from mailer.ops.doctor import run_doctor
from mailer.settings import Settings, load_settings

_COLOURS = {Status.OK: "green", Status.WARN: "yellow", Status.ERROR: "red"}
#: what the status column says
STATUS_LABELS = {Status.OK: N_("正常"), Status.WARN: N_("注意"), Status.ERROR: N_("異常")}
#: what each check is called on its line (`smtp <relay>` keeps the relay's name)
CHECK_NAMES = {
    "configuration": N_("構成"), "secret key": N_("秘密鍵"), "old secret keys": N_("古い秘密鍵"),
    "environment": N_("環境"), "base url": N_("公開 URL"), "alignment": N_("ドメインの整合"),
    "smtp": N_("SMTP"), "templates": N_("テンプレート"), "dkim": N_("DKIM"),
    "database": N_("データベース"), "migrations": N_("マイグレーション"), "redis": N_("Redis"),
    "redis config": N_("Redis の設定"), "redis eviction": N_("Redis の追い出し"),
    "redis persistence": N_("Redis の永続化"), "workers": N_("ワーカー"),
    "deliveries": N_("配信の詰まり"),
}


def check_line(check: Check) -> tuple[str, str]:
    """(the status word padded, `name: message — fix`) in the catalogue's language."""
    name = check.name
    if name in CHECK_NAMES:
        name = _(CHECK_NAMES[name])
    elif name.startswith("smtp "):
        name = _("SMTP {relay}").format(relay=name.removeprefix("smtp "))
    text = f"{name}: {check.message}"
    if check.fix:
        text = f"{text} — {check.fix}"
    status = _(STATUS_LABELS[check.status])
    width = max(len(_(label)) for label in STATUS_LABELS.values())
    return f"{status:<{width}}", text


@says(_("設定、データベース、Redis、SMTP リレー、DKIM を確かめ、公開する DNS レコードを"
        "表示します。\n\nメールは送りません。エラーの項目があれば終了コード 1 で終わります。"))
def doctor() -> None:
    from mailer.render.html import TEMPLATES_DIR

    report = run_doctor(load_settings, templates_dir=TEMPLATES_DIR)
    for check in report.checks:
        label, text = check_line(check)
        status = typer.style(label, fg=_COLOURS[check.status], bold=True)
        typer.echo(f"{status}  {text}")
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
