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
from mailer.services.privacy import (
    UnknownSubscriberError,
    erase_subscriber,
    export_subscriber_data,
)
from mailer.services.retention import DEFAULT_RETENTION_DAYS, compact_old_deliveries

privacy_app = typer.Typer(
    help="Data care: export or erase a subscriber's data; compact old delivery records.",
    no_args_is_help=True,
)


def _engine() -> Engine:
    return open_engine(settings_or_exit())


def _actor() -> str:
    return f"cli:{os.environ.get('USER') or 'unknown'}"


@privacy_app.command("export")
def export_cmd(
    email: str = typer.Argument(..., help="the subscriber's address (any case)"),
    out: Path | None = typer.Option(None, "--out", help="write the JSON here, not to stdout"),
) -> None:
    """Print everything stored about one subscriber as JSON (UTF-8).

    Exits 1 if nothing is stored about the address.
    """
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
        f"wrote {escape(str(out))}: {len(data['deliveries'])} deliveries, "
        f"{len(data['events'])} events, {len(data['inbound_messages'])} inbound "
        "messages",
        highlight=False,
    )


@privacy_app.command("erase")
def erase_cmd(
    email: str = typer.Argument(..., help="the subscriber's address (any case)"),
    yes: bool = typer.Option(False, "--yes", help="really erase (there is no undo)"),
    reason: str = typer.Option(
        "", "--reason", help="why, for the audit log (e.g. a request reference)"
    ),
) -> None:
    """Erase a subscriber: delete their data, keep only a hash so the address stays
    suppressed (an import will not bring it back without --resubscribe).

    Refuses without --yes (exit 2); exits 1 if nothing is stored about the address.
    """
    if not yes:
        fail(
            "erasing cannot be undone; run `mailer privacy export` first if the person "
            "asked for their data, then repeat with --yes",
            code=2,
        )
    engine = _engine()
    try:
        report = erase_subscriber(engine=engine, email=email, actor=_actor(), reason=reason)
    except UnknownSubscriberError as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    console.print("erased:", highlight=False)
    for line in report.lines():
        console.print(f"  {line}", highlight=False)


@privacy_app.command("compact")
def compact_cmd(
    older_than_days: int = typer.Option(
        DEFAULT_RETENTION_DAYS,
        "--older-than-days",
        min=1,
        help="compact sends done or cancelled at least this many days ago",
    ),
) -> None:
    """Replace the delivery rows of old finished sends by per-state counts."""
    engine = _engine()
    try:
        n = compact_old_deliveries(engine=engine, older_than=timedelta(days=older_than_days))
    finally:
        engine.dispose()
    console.print(
        f"compacted: {n} delivery rows of sends finished more than {older_than_days} days ago",
        highlight=False,
    )
