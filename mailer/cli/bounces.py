"""`mailer bounces serve | import`: receive or import bounces, complaints and
mailto unsubscribes for the bounce domain."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import typer
from rich.table import Table
from rich.text import Text

from mailer.bounces.inbound import inbound_config
from mailer.bounces.mailbox import ImportReport, MailboxError, import_mailbox
from mailer.bounces.receiver import BounceReceiver
from mailer.cli.common import console, fail, open_engine, refuse_weak_key, settings_or_exit
from mailer.i18n import _
from mailer.models import InboundMessage

bounces_app = typer.Typer(
    help=_("バウンス、苦情、mailto による配信停止（VERP の返送先ドメイン）。"),
    no_args_is_help=True,
)

SOFT_LIMIT = typer.Option(
    3, min=1, help=_("期間内にこの回数の一時的なバウンスがあれば不達とみなします"))
SOFT_WINDOW = typer.Option(30, min=1, help=_("一時的なバウンスを数える期間（日）"))


@bounces_app.command("serve", help=_(
    "バウンス用ドメインの bounces+…@ と unsubscribe+…@ を受ける SMTP の受け口を動かします。"))
def serve(
    host: str = typer.Option("127.0.0.1", help=_("待ち受けるアドレス")),
    port: int = typer.Option(2526, min=1, max=65535, help=_("待ち受ける TCP ポート")),
    soft_limit: int = SOFT_LIMIT,
    soft_window_days: int = SOFT_WINDOW,
) -> None:
    settings = settings_or_exit()
    refuse_weak_key(settings, listen_host=host)  # it acts on signed VERP addresses
    config = inbound_config(settings, soft_limit=soft_limit, soft_window_days=soft_window_days)
    engine = open_engine(settings)

    def show(row: InboundMessage) -> None:
        console.print(f"#{row.id} {row.summary}", markup=False, highlight=False, soft_wrap=True)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    receiver = BounceReceiver(engine=engine, config=config, host=host, port=port, on_message=show)
    try:
        receiver.start()
    except (OSError, RuntimeError) as exc:
        fail(_("{host}:{port} で待ち受けできません: {reason}").format(
            host=host, port=port, reason=exc))
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    console.print(
        _("bounces+…@{domain} と unsubscribe+…@{domain} 宛てのメールを {host}:{port} で"
          "受けています（Ctrl-C で終了）").format(domain=config.domain, host=host, port=port)
    )
    try:
        stop.wait()
    finally:
        receiver.stop()
        engine.dispose()
    console.print(_("終了しました"))


@bounces_app.command("import", help=_(
    "Maildir または mbox のすべてのメールを、SMTP で受けたものとして処理します。"))
def import_(
    path: Path = typer.Argument(
        ..., help=_("Maildir（cur/ new/ tmp/ のあるもの）または mbox のファイル")),
    soft_limit: int = SOFT_LIMIT,
    soft_window_days: int = SOFT_WINDOW,
) -> None:
    settings = settings_or_exit()
    refuse_weak_key(settings)
    config = inbound_config(settings, soft_limit=soft_limit, soft_window_days=soft_window_days)
    engine = open_engine(settings)
    try:
        report = import_mailbox(engine=engine, config=config, path=path)
    except MailboxError as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    show_report(report)


def show_report(report: ImportReport) -> None:
    table = Table(title=_("メール {count} 通").format(count=report.total))
    table.add_column(_("種類"))
    table.add_column(_("件数"), justify="right")
    for kind, count in sorted(report.counts.items()):
        table.add_row(kind, str(count))
    console.print(table)
    if not report.unmatched:
        console.print(_("すべてのメールを配信か購読者に結び付けました"))
        return
    left = Table(title=_("処理しなかったもの（保存済み。確認してください）"))
    for name in (_("メール"), _("種類"), _("件名"), _("概要")):
        left.add_column(name, overflow="fold")
    for u in report.unmatched:
        # Text, not markup: summaries hold "[notes]" and subjects are anyone's.
        left.add_row(*(Text(v) for v in (u.key, u.kind, u.subject, u.summary)))
    console.print(left)
