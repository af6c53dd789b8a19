"""Verbs for subscribers (import, export), lists and segments.

Three typer apps, registered by mailer.cli.main as `subscribers`, `lists`
and `segments`.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from mailer.cli.common import (
    console,
    err_console,
    fail,
    fail_service,
    open_engine,
    settings_or_exit,
)
from mailer.db import session_scope
from mailer.models import ListVisibility, Subscriber, SubscriberStatus
from mailer.services.errors import ServiceError
from mailer.services.exporter import export_subscribers
from mailer.services.importer import SubscriberFileError, read_subscriber_file
from mailer.services.segments import (
    SegmentError,
    SegmentFilter,
    all_segments,
    create_segment,
    get_segment,
    parse_where,
    segment_subscriber_ids,
)
from mailer.services.subscribers import (
    Consent,
    ImportReport,
    ListExistsError,
    NoSuchListError,
    apply_import,
    create_list,
    list_summaries,
    set_list_visibility,
)

subscribers_app = typer.Typer(help="Import and export subscribers (CSV).", no_args_is_help=True)
lists_app = typer.Typer(help="Mailing lists.", no_args_is_help=True)
segments_app = typer.Typer(
    help="Segments: saved filters over subscriber fields.", no_args_is_help=True
)

#: Exit status of an import that wrote its valid rows but rejected others.
EXIT_ROWS_REJECTED = 3


def _engine() -> Engine:
    return open_engine(settings_or_exit())


def _operator() -> str:
    return os.environ.get("USER") or "cli"


# -- subscribers ----------------------------------------------------------------


@subscribers_app.command("import")
def import_cmd(
    file: Path = typer.Argument(..., help="CSV: UTF-8 (BOM optional) or Shift_JIS/CP932"),
    list_name: str | None = typer.Option(None, "--list", help="add the subscribers to this list"),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="report what would change; write nothing"
    ),
    resubscribe: bool = typer.Option(
        False,
        "--resubscribe",
        help="also reactivate unsubscribed, bounced, complained or suppressed addresses",
    ),
) -> None:
    """Create or update subscribers from a CSV file, in one transaction.

    Rejected rows are listed with their line number; the valid rows are still
    imported (exit status 3). A file that cannot be read writes nothing (exit 1).
    """
    settings_or_exit()
    try:
        parsed = read_subscriber_file(file)
    except SubscriberFileError as exc:
        fail(f"{exc}; nothing written")
    consent = Consent(source=f"import:{file.name}", by=_operator(), at=datetime.now(UTC))
    engine = _engine()
    try:
        with Session(engine, expire_on_commit=False) as session:
            report = apply_import(
                session=session,
                parsed=parsed,
                list_name=list_name,
                consent=consent,
                resubscribe=resubscribe,
                dry_run=dry_run,
            )
            if dry_run:
                session.rollback()
            else:
                session.commit()
    except NoSuchListError as exc:
        fail(f"{exc}; nothing written")
    except IntegrityError:
        fail(
            f"{file}: the same addresses were changed by someone else meanwhile; "
            "nothing written, run the import again"
        )
    finally:
        engine.dispose()
    print_import_report(report)
    if report.rejected:
        raise typer.Exit(EXIT_ROWS_REJECTED)


def print_import_report(report: ImportReport) -> None:
    """Print warnings, every rejected and skipped row, then the counts."""
    target = f", list {report.list_name}" if report.list_name else ", no list"
    console.print(
        f"{escape(report.file)}: {report.encoding}{escape(target)}", highlight=False, soft_wrap=True
    )
    # Rows go out through click, not rich: cell values must not be read as markup.
    for warning in report.warnings:
        click.echo(f"warning: {warning}")
    for rejection in report.rejected:
        click.echo(f"rejected: line {rejection.line}: {rejection.reason}")
    for skip in report.skipped:
        click.echo(
            f"skipped: line {skip.line}: {skip.email}: {skip.reason} "
            "(not resubscribed; --resubscribe to override)"
        )
    c = report.counts
    extra = [f"added to list {c.added_to_list}"] if report.list_name else []
    extra.append(f"resubscribed {c.resubscribed}")
    click.echo(
        f"created {c.created}, updated {c.updated}, unchanged {c.unchanged}, "
        f"rejected {c.rejected}, skipped-suppressed {c.skipped_suppressed} "
        f"({', '.join(extra)})"
    )
    if report.dry_run:
        click.echo("dry run: nothing written")


@subscribers_app.command("export")
def export_cmd(
    list_name: str | None = typer.Option(None, "--list", help="only this list's members"),
    out: Path | None = typer.Option(None, "--out", help="file to write (default: stdout)"),
) -> None:
    """Write subscribers as CSV for Excel: UTF-8 with BOM, CRLF, Japanese headers."""
    engine = _engine()
    try:
        with engine.connect() as conn:
            if out is None:
                sys.stdout.flush()
                count = export_subscribers(conn, sys.stdout.buffer, list_name=list_name)
                sys.stdout.buffer.flush()
            else:
                # Write beside the target and rename: no half-written file on error.
                partial = out.with_name(out.name + ".partial")
                with partial.open("wb") as fh:
                    count = export_subscribers(conn, fh, list_name=list_name)
                partial.replace(out)
    except NoSuchListError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{out}: cannot write: {exc.strerror or exc}")
    finally:
        engine.dispose()
    where = f" to {escape(str(out))}" if out else ""
    err_console.print(f"exported {count} subscriber(s){where}", highlight=False, soft_wrap=True)


# -- lists ------------------------------------------------------------------------


@lists_app.command("create")
def lists_create(
    name: str = typer.Argument(..., help="short name used on the command line"),
    title: str = typer.Option("", "--title", help="title shown to subscribers"),
    public: bool = typer.Option(
        False, "--public",
        help="offer the list to readers on their preferences page (default: internal)"),
) -> None:
    """Create a mailing list (internal unless --public)."""
    engine = _engine()
    visibility = ListVisibility.PUBLIC if public else ListVisibility.INTERNAL
    try:
        with session_scope(engine) as session:
            ml = create_list(session=session, name=name, title=title, visibility=visibility)
            shown = f"list {ml.name} ({ml.title})"
    except (ListExistsError, ValueError) as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    console.print(f"created {escape(shown)}", highlight=False, soft_wrap=True)


@lists_app.command("set-visibility")
def lists_set_visibility(
    name: str = typer.Argument(..., help="the list's short name"),
    visibility: ListVisibility = typer.Argument(
        ..., help="public: readers see and join it; internal: only its members see it"),
) -> None:
    """Make a list public (offered to readers) or internal (members only)."""
    engine = _engine()
    try:
        with session_scope(engine) as session:
            changed = set_list_visibility(session=session, name=name, visibility=visibility)
    except ServiceError as exc:
        fail_service(exc)
    finally:
        engine.dispose()
    label = "公開（読者が選べる）" if visibility == ListVisibility.PUBLIC else "内部（登録者のみ）"
    console.print(f"リスト {escape(name)}: {label}" + ("" if changed else "（変更なし）"),
                  highlight=False, soft_wrap=True)


@lists_app.command("show")
def lists_show() -> None:
    """Show every list with its member counts by subscriber status."""
    engine = _engine()
    try:
        with Session(engine) as session:
            summaries = list_summaries(session=session)
    finally:
        engine.dispose()
    if not summaries:
        console.print("no lists (create one with `mailer lists create NAME`)")
        return
    table = Table(title="lists")
    table.add_column("name", no_wrap=True)
    table.add_column("title")
    table.add_column("公開")
    for status in SubscriberStatus:
        table.add_column(status.value, justify="right")
    table.add_column("suppressed", justify="right")
    table.add_column("total", justify="right")
    for s in summaries:
        table.add_row(
            escape(s.name),
            escape(s.title),
            "公開" if s.visibility == ListVisibility.PUBLIC else "内部",
            *(str(s.by_status[status]) for status in SubscriberStatus),
            str(s.suppressed),
            str(s.total),
        )
    console.print(table)


# -- segments -------------------------------------------------------------------


@segments_app.command("create")
def segments_create(
    name: str = typer.Argument(...),
    where: list[str] = typer.Option(
        ...,
        "--where",
        help="field=value; fields: kind, organisation, role, format, charset, status, list. "
        "Repeat a field for OR; different fields are ANDed.",
    ),
    title: str = typer.Option("", "--title"),
) -> None:
    """Save a segment, e.g. --where kind=特別区 --where role=CIO."""
    engine = _engine()
    try:
        flt = parse_where(where)
        with session_scope(engine) as session:
            create_segment(session=session, name=name, where=flt, title=title)
        count = _count(engine, flt)
    except SegmentError as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    console.print(
        f"created segment {escape(name)}: {escape(flt.describe())} ({count} subscriber(s) now)",
        highlight=False,
        soft_wrap=True,
    )


def _count(engine: Engine, flt: SegmentFilter) -> int:
    ids = segment_subscriber_ids(engine=engine, segment=flt).subquery()
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ids)).scalar_one())


@segments_app.command("show")
def segments_show(
    name: str | None = typer.Argument(None, help="a segment: list its subscribers"),
) -> None:
    """Show every segment with its filter and size, or one segment's subscribers."""
    engine = _engine()
    try:
        with Session(engine) as session:
            segments = (
                [get_segment(session=session, name=name)] if name else all_segments(session=session)
            )
        if name is None:
            table = Table(title="segments")
            for col in ("name", "title", "filter", "subscribers"):
                table.add_column(col, justify="right" if col == "subscribers" else "left")
            for seg in segments:
                flt = SegmentFilter.from_json(seg.filter_json)
                table.add_row(
                    escape(seg.name),
                    escape(seg.title),
                    escape(flt.describe()),
                    str(_count(engine, flt)),
                )
            console.print(table)
            return
        seg = segments[0]
        flt = SegmentFilter.from_json(seg.filter_json)
        ids = segment_subscriber_ids(engine=engine, segment=flt).subquery()
        stmt = (
            select(
                Subscriber.email,
                Subscriber.name,
                Subscriber.organisation,  # type: ignore[call-overload]
                Subscriber.roles,
                Subscriber.status,
            )
            .where(Subscriber.id.in_(select(ids.c.id)))  # type: ignore[union-attr]
            .order_by(Subscriber.id)
        )
        with engine.connect() as conn:
            rows = conn.execute(stmt).all()
    except SegmentError as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    click.echo(f"segment {seg.name}: {flt.describe()}: {len(rows)} subscriber(s)")
    for email, sub_name, organisation, roles, status in rows:
        status_text = SubscriberStatus(status).value
        click.echo("\t".join((email, sub_name, organisation, roles, status_text)))
