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
from mailer.models import InboundMessage

bounces_app = typer.Typer(
    help="Bounces, complaints and mailto unsubscribes (the VERP return-path domain).",
    no_args_is_help=True,
)

SOFT_LIMIT = typer.Option(3, min=1, help="soft bounces within the window that count as a bounce")
SOFT_WINDOW = typer.Option(30, min=1, help="the soft-bounce window, in days")


@bounces_app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(2526, min=1, max=65535, help="TCP port to listen on"),
    soft_limit: int = SOFT_LIMIT,
    soft_window_days: int = SOFT_WINDOW,
) -> None:
    """Run an SMTP receiver for bounces+…@ and unsubscribe+…@ the bounce domain."""
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
        fail(f"cannot listen on {host}:{port}: {exc}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    console.print(
        f"receiving mail for bounces+…@{config.domain} and "
        f"unsubscribe+…@{config.domain} on {host}:{port} (Ctrl-C stops)"
    )
    try:
        stop.wait()
    finally:
        receiver.stop()
        engine.dispose()
    console.print("stopped")


@bounces_app.command("import")
def import_(
    path: Path = typer.Argument(..., help="a Maildir (with cur/ new/ tmp/) or an mbox file"),
    soft_limit: int = SOFT_LIMIT,
    soft_window_days: int = SOFT_WINDOW,
) -> None:
    """Process every message of a Maildir or an mbox as if received by SMTP."""
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
    table = Table(title=f"{report.total} message(s)")
    table.add_column("kind")
    table.add_column("count", justify="right")
    for kind, count in sorted(report.counts.items()):
        table.add_row(kind, str(count))
    console.print(table)
    if not report.unmatched:
        console.print("every message was matched to a delivery or subscriber")
        return
    left = Table(title="not acted on (stored; review these)")
    for name in ("message", "kind", "subject", "summary"):
        left.add_column(name, overflow="fold")
    for u in report.unmatched:
        # Text, not markup: summaries hold "[notes]" and subjects are anyone's.
        left.add_row(*(Text(v) for v in (u.key, u.kind, u.subject, u.summary)))
    console.print(left)
