"""Verbs for issues and parts: load, check, preview, test-send, publish, unpublish."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer
from rich.table import Table

from mailer.cli.common import (
    console,
    err_console,
    fail,
    fail_service,
    open_engine,
    settings_or_exit,
)
from mailer.db import session_scope
from mailer.runtime import render_config

issue_app = typer.Typer(
    help="Issues: load, list and export issue folders; draft one from a Word file.",
    no_args_is_help=True)
part_app = typer.Typer(help="Parts: list, preflight check, preview, publish and unpublish.",
                       no_args_is_help=True)


@issue_app.command("load")
def issue_load(directory: Path = typer.Argument(..., help="the issue folder")) -> None:
    """Validate and store an issue folder (create or update; idempotent).

    Bad input is refused as a whole, every problem listed as file:line: message.
    """
    from mailer.compose.errors import IssueFolderError
    from mailer.compose.load import load_issue

    settings = settings_or_exit()
    if not directory.is_dir():
        fail(f"{directory}: not a folder")
    engine = open_engine(settings)
    try:
        with session_scope(engine) as session:
            result = load_issue(session=session, path=directory)
    except IssueFolderError as exc:
        for problem in exc.problems:
            err_console.print(
                f"{directory / problem.file}:{problem.line}: {problem.message}",
                highlight=False,
                soft_wrap=True,
                markup=False,
            )
        fail(f"{len(exc.problems)} problem(s); nothing was stored")
    console.print(f"issue {result.slug} (id {result.issue_id}): {result.status}")
    table = Table("part", "status")
    for label, status in result.parts.items():
        table.add_row(label, str(status))
    console.print(table)
    _print_part_ids(engine, result.issue_id)


@issue_app.command("export")
def issue_export(
    slug: str = typer.Argument(..., help="the issue's slug (e.g. vol04)"),
    directory: Path = typer.Argument(..., help="where to write the folder"),
    force: bool = typer.Option(False, "--force", help="write over a folder that is not empty"),
) -> None:
    """Write a stored issue as an issue folder that `mailer issue load` reads back unchanged.

    The folder is DIRECTORY itself when its name is the slug, else DIRECTORY/SLUG.
    """
    from mailer.services.errors import ServiceError
    from mailer.services.issue_export import export_issue

    engine = open_engine(settings_or_exit())
    try:
        result = export_issue(engine=engine, slug=slug, directory=directory, force=force)
    except ServiceError as exc:
        fail_service(exc)
    finally:
        engine.dispose()
    console.print(f"号 {slug} を {result.folder} に書き出しました({len(result.files)} ファイル)",
                  highlight=False, soft_wrap=True, markup=False)
    for name in result.files:
        console.print(f"  {name}", highlight=False, markup=False)


@issue_app.command("import-docx")
def issue_import_docx(
    source: Path = typer.Argument(..., help="the Word manuscript (.docx)"),
    directory: Path = typer.Argument(..., help="the draft folder to write (its name is the slug)"),
    like: str = typer.Option("", "--like",
                             help="a stored issue whose series, publisher and back numbers "
                                  "the draft takes"),
    force: bool = typer.Option(False, "--force", help="write over a folder that is not empty"),
) -> None:
    """Draft an issue folder from a Word manuscript; list what it could not place.

    Each item it could not place (a table, a text box, a footnote, a picture
    without alt text, an unknown style) is printed with its paragraph number.
    """
    from mailer.compose.document import IssueDocument
    from mailer.compose.errors import IssueFolderError
    from mailer.compose.parse import parse_issue_folder
    from mailer.services.docx_import import draft_from_docx
    from mailer.services.errors import ServiceError
    from mailer.services.issue_export import stored_issue, write_issue_folder

    if not source.is_file():
        fail(f"{source}: ファイルがありません")
    base: IssueDocument | None = None
    if like:
        engine = open_engine(settings_or_exit())
        try:
            base = stored_issue(engine, like)
        except ServiceError as exc:
            fail_service(exc)
        finally:
            engine.dispose()
    try:
        draft = draft_from_docx(source.read_bytes(), slug=directory.resolve().name, like=base)
        write_issue_folder(directory, draft.files(), force=force)
    except ServiceError as exc:
        fail_service(exc)
    console.print(f"{source.name} から下書き {directory} を作りました", highlight=False,
                  soft_wrap=True, markup=False)
    if draft.unplaced:
        console.print(f"取り込めなかったもの・確かめてほしいもの({len(draft.unplaced)} 件):",
                      highlight=False, markup=False)
        for item in draft.unplaced:
            console.print(f"  {item}", highlight=False, soft_wrap=True, markup=False)
    try:
        parse_issue_folder(directory)
    except IssueFolderError as exc:
        console.print("下書きを読み込む前に直すところ:", highlight=False, markup=False)
        for problem in exc.problems:
            console.print(f"  {directory / problem.file}:{problem.line}: {problem.message}",
                          highlight=False, soft_wrap=True, markup=False)


def _print_part_ids(engine, issue_id: int) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from mailer.models import Part

    with engine.connect() as conn:
        rows = conn.execute(
            select(Part.id, Part.label, Part.subject)  # type: ignore[call-overload]
            .where(Part.issue_id == issue_id)
            .order_by(Part.position)
        ).all()
    for pid, label, subject in rows:
        console.print(f"  part id {pid}: {label}  {subject}", highlight=False)


@part_app.command("check")
def part_check(part_id: int = typer.Argument(...)) -> None:
    """Run the preflight check; exit 1 if anything would block a send."""
    from mailer.services.parts import PartNotFound, preflight

    settings = settings_or_exit()
    engine = open_engine(settings)
    try:
        report = preflight(engine=engine, part_id=part_id, config=render_config(settings))
    except PartNotFound as exc:
        fail(str(exc))
    for f in report.findings:
        colour = "red" if f.severity == "error" else "yellow"
        console.print(
            f"[{colour}]{f.severity}[/] {f.code} {f.where}: {f.message}",
            highlight=False,
            soft_wrap=True,
        )
    if report.unsendable_readers:
        console.print(f"ISO-2022-JP で氏名を送れない購読者（{len(report.unsendable_readers)} 名）:",
                      highlight=False)
        for r in report.unsendable_readers:
            console.print(f"  {r.email}  {r.name}（{''.join(r.chars)}）  編集：{r.edit_url}",
                          highlight=False, soft_wrap=True, markup=False)
    elif report.iso2022jp_recipients:
        console.print(
            f"ISO-2022-JP を選んだ購読者（{len(report.iso2022jp_recipients)} 名）: "
            + ", ".join(report.iso2022jp_recipients),
            highlight=False,
        )
    console.print(f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)")
    if report.errors:
        raise typer.Exit(1)


@part_app.command("preview")
def part_preview(
    part_id: int = typer.Argument(...),
    format: str = typer.Option("text", "--format", help="html, text, eml or sanitized"),
    subscriber: str | None = typer.Option(None, "--subscriber", help="preview as this address"),
    out: Path | None = typer.Option(None, "--out", help="write to this file instead of stdout"),
) -> None:
    """Show a part as a subscriber would receive it."""
    from sqlalchemy import select

    from mailer.models import Subscriber
    from mailer.render.message import Recipient
    from mailer.render.preview import preview
    from mailer.services.parts import PartNotFound, documents

    if format not in ("html", "text", "eml", "sanitized"):
        fail(f"--format {format!r}: choose html, text, eml or sanitized")
    settings = settings_or_exit()
    engine = open_engine(settings)
    try:
        issue, part = documents(engine=engine, part_id=part_id)
    except PartNotFound as exc:
        fail(str(exc))
    recipient = None
    if subscriber:
        with engine.connect() as conn:
            sub = conn.execute(
                select(Subscriber).where(Subscriber.email == subscriber.strip().lower())  # type: ignore[arg-type]
            ).first()
        if sub is None:
            fail(f"--subscriber {subscriber}: no such subscriber")
        recipient = Recipient(
            email=sub.email,
            name=sub.name or None,
            honorific=sub.honorific,
            format=sub.format,
            charset=sub.charset,
        )
    try:
        result = preview(  # format was checked above
            issue=issue,
            part=part,
            config=render_config(settings),
            format=format,  # type: ignore[arg-type]
            recipient=recipient,
        )
    except ValueError as exc:
        fail(str(exc))
    data = result if isinstance(result, bytes) else result.encode("utf-8")
    if out:
        out.write_bytes(data)
        console.print(f"wrote {out} ({len(data)} bytes)")
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


def test_send(
    part_id: int = typer.Argument(...),
    to: list[str] = typer.Option(..., "--to", help="recipient address (repeatable)"),
) -> None:
    """Send a part to the given addresses now, marked as a test; not recorded in the ledger.

    It goes out as readers get it: through the relays in failover order,
    DKIM-signed, from the VERP bounce address. Exit 1 if any was not sent.
    """
    from mailer.services.errors import ServiceError
    from mailer.services.test_send import test_send_part

    settings = settings_or_exit()
    engine = open_engine(settings)
    try:
        results = test_send_part(engine=engine, settings=settings, part_id=part_id, addresses=to)
    except ServiceError as exc:
        fail(f"--to {exc.message}" if exc.field == "to" else exc.message)
    finally:
        engine.dispose()
    failed = 0
    for address, outcome in results:
        ok = outcome == "sent"
        failed += not ok
        console.print(f"{address}: {'[green]' if ok else '[red]'}{outcome}[/]", highlight=False)
    if failed:
        raise typer.Exit(1)


PUBLISH_AS = typer.Option(
    "", "--as", help="who is acting: a staff user's email (default: $USER)")


@part_app.command("publish")
def part_publish(part_id: int = typer.Argument(...), as_: str = PUBLISH_AS) -> None:
    """Make a part public now: its archive page, feed entry and images
    (otherwise it goes public when its first send starts)."""
    from mailer.labels import tokyo
    from mailer.services.actors import cli_actor
    from mailer.services.errors import ServiceError
    from mailer.services.publication import publish_part

    engine = open_engine(settings_or_exit())
    actor = cli_actor(engine=engine, name=as_ or os.environ.get("USER", "cli"))
    try:
        at = publish_part(engine=engine, actor=actor, part_id=part_id)
    except ServiceError as exc:
        fail_service(exc)
    console.print(f"part {part_id}: published at {tokyo(at)} (Asia/Tokyo) by {actor.name}",
                  highlight=False)


@part_app.command("unpublish")
def part_unpublish(part_id: int = typer.Argument(...), as_: str = PUBLISH_AS) -> None:
    """Take a part back from the public: its archive page, feed entry and
    images answer 404 again (staff and preview links still see it)."""
    from mailer.services.actors import cli_actor
    from mailer.services.errors import ServiceError
    from mailer.services.publication import unpublish_part

    engine = open_engine(settings_or_exit())
    actor = cli_actor(engine=engine, name=as_ or os.environ.get("USER", "cli"))
    try:
        unpublish_part(engine=engine, actor=actor, part_id=part_id)
    except ServiceError as exc:
        fail_service(exc)
    console.print(f"part {part_id}: unpublished by {actor.name}", highlight=False)


def _register_lists() -> None:
    # `issue list` and `part list` live in catalogue.py (read models, no loading)
    from mailer.cli.catalogue import issue_list, part_list

    issue_app.command("list")(issue_list)
    part_app.command("list")(part_list)


_register_lists()
