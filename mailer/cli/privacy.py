"""Verbs for data care: export or erase one person's data, compact old ledgers.

A typer app, registered by mailer.cli.main as `privacy`.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import typer
from rich.markup import escape
from sqlalchemy import Engine

from mailer.cli.common import console, fail, open_engine, settings_or_exit
from mailer.i18n import _
from mailer.services.privacy import (
    UnknownSubscriberError,
    erase_subscriber,
    export_subscriber_data,
)
from mailer.services.retention import DEFAULT_RETENTION_DAYS, compact_old_deliveries

privacy_app = typer.Typer(
    help=_("データの手入れ: 購読者のデータの書き出しと消去、古い配信記録の圧縮。"),
    no_args_is_help=True,
)


def _engine() -> Engine:
    return open_engine(settings_or_exit())


def _actor() -> str:
    return f"cli:{os.environ.get('USER') or 'unknown'}"


EMAIL = typer.Argument(..., help=_("購読者のアドレス（大文字小文字は問いません）"))


@privacy_app.command("export", help=_(
    "一人の購読者について保存しているすべてを JSON（UTF-8）で出力します。\n\n"
    "そのアドレスについて何も保存していなければ終了コード 1 で終わります。"))
def export_cmd(
    email: str = EMAIL,
    out: Path | None = typer.Option(
        None, "--out", help=_("JSON を標準出力ではなくここに書きます")),
) -> None:
    engine = _engine()
    try:
        data = export_subscriber_data(engine=engine, email=email)
    except UnknownSubscriberError as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"--out {out}: {exc.strerror or exc}")
    console.print(
        _("{path} に書きました: 配信 {deliveries} 件、出来事 {events} 件、"
          "受信したメール {inbound} 通").format(
            path=escape(str(out)), deliveries=len(data["deliveries"]),
            events=len(data["events"]), inbound=len(data["inbound_messages"])),
        highlight=False,
    )


@privacy_app.command("erase", help=_(
    "購読者を消去します: データを削除し、アドレスが抑止されたままになるようハッシュだけを"
    "残します（取り込みでも --resubscribe なしには戻りません）。\n\n"
    "--yes がなければ断ります（終了コード 2）。そのアドレスについて何も保存していなければ"
    "終了コード 1 で終わります。"))
def erase_cmd(
    email: str = EMAIL,
    yes: bool = typer.Option(False, "--yes", help=_("本当に消去します（元に戻せません）")),
    reason: str = typer.Option(
        "", "--reason", help=_("理由。監査ログに残ります（例: 依頼の番号）")
    ),
) -> None:
    if not yes:
        fail(
            _("消去は元に戻せません。本人がデータを求めているなら先に `mailer privacy export` を"
              "実行し、それから --yes を付けてもう一度実行してください"),
            code=2,
        )
    engine = _engine()
    try:
        report = erase_subscriber(engine=engine, email=email, actor=_actor(), reason=reason)
    except UnknownSubscriberError as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    console.print(_("消去しました:"), highlight=False)
    for line in report.lines():
        console.print(f"  {line}", highlight=False)


@privacy_app.command("compact", help=_(
    "終わった古い送信の配信記録を、状態ごとの件数に置き換えます。"))
def compact_cmd(
    older_than_days: int = typer.Option(
        DEFAULT_RETENTION_DAYS,
        "--older-than-days",
        min=1,
        help=_("この日数以上前に完了または取り消しになった送信を圧縮します"),
    ),
) -> None:
    engine = _engine()
    try:
        n = compact_old_deliveries(engine=engine, older_than=timedelta(days=older_than_days))
    finally:
        engine.dispose()
    console.print(
        _("圧縮しました: {days} 日より前に終わった送信の配信記録 {count} 行").format(
            days=older_than_days, count=n),
        highlight=False,
    )
