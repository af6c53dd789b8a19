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
from mailer.i18n import _
from mailer.labels import SUBSCRIBER_LABELS
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

subscribers_app = typer.Typer(
    help=_("購読者の取り込みと書き出し（CSV）。"), no_args_is_help=True)
lists_app = typer.Typer(help=_("配信リスト。"), no_args_is_help=True)
segments_app = typer.Typer(
    help=_("セグメント: 購読者の項目で絞り込む、保存した条件。"), no_args_is_help=True
)

#: Exit status of an import that wrote its valid rows but rejected others.
EXIT_ROWS_REJECTED = 3


def _engine() -> Engine:
    return open_engine(settings_or_exit())


def _operator() -> str:
    return os.environ.get("USER") or "cli"


# -- subscribers ----------------------------------------------------------------


@subscribers_app.command("import", help=_(
    "CSV ファイルから購読者を作成または更新します（一つのトランザクションで）。\n\n"
    "受け付けない行は行番号とともに示し、正しい行は取り込みます（終了コード 3）。"
    "読めないファイルでは何も書きません（終了コード 1）。"))
def import_cmd(
    file: Path = typer.Argument(
        ..., help=_("CSV: UTF-8（BOM は任意）または Shift_JIS/CP932")),
    list_name: str | None = typer.Option(
        None, "--list", help=_("購読者をこのリストに加えます")),
    dry_run: bool = typer.Option(
        False, "--dry-run", help=_("何が変わるかを示すだけで、何も書きません")
    ),
    resubscribe: bool = typer.Option(
        False,
        "--resubscribe",
        help=_("配信停止、不達、苦情、抑止のアドレスも配信中に戻します"),
    ),
) -> None:
    settings_or_exit()
    try:
        parsed = read_subscriber_file(file)
    except SubscriberFileError as exc:
        fail(_("{reason}。何も書いていません").format(reason=exc))
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
        fail(_("{reason}。何も書いていません").format(reason=exc))
    except IntegrityError:
        fail(
            _("{path}: その間に同じアドレスが他の人に変更されました。"
              "何も書いていません。もう一度取り込んでください").format(path=file)
        )
    finally:
        engine.dispose()
    print_import_report(report)
    if report.rejected:
        raise typer.Exit(EXIT_ROWS_REJECTED)


def print_import_report(report: ImportReport) -> None:
    """Print warnings, every rejected and skipped row, then the counts."""
    target = (_("、リスト {name}").format(name=report.list_name) if report.list_name
              else _("、リストなし"))
    console.print(
        f"{escape(report.file)}: {report.encoding}{escape(target)}", highlight=False, soft_wrap=True
    )
    # Rows go out through click, not rich: cell values must not be read as markup.
    for warning in report.warnings:
        click.echo(_("警告: {warning}").format(warning=warning))
    for rejection in report.rejected:
        click.echo(_("受け付けません: {line} 行目: {reason}").format(
            line=rejection.line, reason=rejection.reason))
    for skip in report.skipped:
        click.echo(
            _("飛ばしました: {line} 行目: {email}: {reason}"
              "（配信中に戻していません。戻すには --resubscribe）").format(
                line=skip.line, email=skip.email, reason=skip.reason)
        )
    c = report.counts
    extra = ([_("リストに追加 {count}").format(count=c.added_to_list)]
             if report.list_name else [])
    extra.append(_("配信中に戻した {count}").format(count=c.resubscribed))
    click.echo(
        _("作成 {created}、更新 {updated}、変更なし {unchanged}、受け付けず {rejected}、"
          "抑止のため飛ばした {skipped}（{extra}）").format(
            created=c.created, updated=c.updated, unchanged=c.unchanged, rejected=c.rejected,
            skipped=c.skipped_suppressed, extra=_("、").join(extra))
    )
    if report.dry_run:
        click.echo(_("試行のみ: 何も書いていません"))


@subscribers_app.command("export", help=_(
    "購読者を Excel 向けの CSV で書き出します: BOM 付き UTF-8、CRLF、日本語の見出し。"))
def export_cmd(
    list_name: str | None = typer.Option(None, "--list", help=_("このリストの登録者だけ")),
    out: Path | None = typer.Option(
        None, "--out", help=_("書き出すファイル（既定: 標準出力）")),
) -> None:
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
        fail(_("{path}: 書けません: {reason}").format(path=out, reason=exc.strerror or exc))
    finally:
        engine.dispose()
    done = (_("{count} 名の購読者を {path} に書き出しました").format(
        count=count, path=escape(str(out))) if out
        else _("{count} 名の購読者を書き出しました").format(count=count))
    err_console.print(done, highlight=False, soft_wrap=True)


# -- lists ------------------------------------------------------------------------


@lists_app.command("create", help=_("配信リストを作成します（--public がなければ内部）。"))
def lists_create(
    name: str = typer.Argument(..., help=_("コマンドラインで使う短い名前")),
    title: str = typer.Option("", "--title", help=_("購読者に見せる題名")),
    public: bool = typer.Option(
        False, "--public",
        help=_("読者の配信設定ページでこのリストを選べるようにします（既定: 内部）")),
) -> None:
    engine = _engine()
    visibility = ListVisibility.PUBLIC if public else ListVisibility.INTERNAL
    try:
        with session_scope(engine) as session:
            ml = create_list(session=session, name=name, title=title, visibility=visibility)
            shown = _("リスト {name}（{title}）を作成しました").format(
                name=escape(ml.name), title=escape(ml.title))
    except (ListExistsError, ValueError) as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    console.print(shown, highlight=False, soft_wrap=True)


@lists_app.command("set-visibility", help=_(
    "リストを公開（読者が選べる）か内部（登録者のみ）にします。"))
def lists_set_visibility(
    name: str = typer.Argument(..., help=_("リストの短い名前")),
    visibility: ListVisibility = typer.Argument(
        ..., help=_("public: 読者が見て登録できます。internal: 登録者だけが見られます")),
) -> None:
    engine = _engine()
    try:
        with session_scope(engine) as session:
            changed = set_list_visibility(session=session, name=name, visibility=visibility)
    except ServiceError as exc:
        fail_service(exc)
    finally:
        engine.dispose()
    label = (_("公開（読者が選べる）") if visibility == ListVisibility.PUBLIC
             else _("内部（登録者のみ）"))
    console.print(_("リスト {name}: {label}").format(name=escape(name), label=label)
                  + ("" if changed else _("（変更なし）")),
                  highlight=False, soft_wrap=True)


@lists_app.command("show", help=_("すべてのリストを、購読者の状態ごとの人数とともに表示します。"))
def lists_show() -> None:
    engine = _engine()
    try:
        with Session(engine) as session:
            summaries = list_summaries(session=session)
    finally:
        engine.dispose()
    if not summaries:
        console.print(_("リストはありません（`mailer lists create NAME` で作成します）"))
        return
    table = Table(title=_("リスト"))
    table.add_column(_("名前"), no_wrap=True)
    table.add_column(_("題名"))
    table.add_column(_("公開"))
    for status in SubscriberStatus:
        table.add_column(SUBSCRIBER_LABELS[status], justify="right")
    table.add_column(_("抑止"), justify="right")
    table.add_column(_("合計"), justify="right")
    for s in summaries:
        table.add_row(
            escape(s.name),
            escape(s.title),
            _("公開") if s.visibility == ListVisibility.PUBLIC else _("内部"),
            *(str(s.by_status[status]) for status in SubscriberStatus),
            str(s.suppressed),
            str(s.total),
        )
    console.print(table)


# -- segments -------------------------------------------------------------------


@segments_app.command("create", help=_(
    "セグメントを保存します。例: --where kind=特別区 --where role=CIO"))
def segments_create(
    name: str = typer.Argument(..., help=_("セグメントの名前")),
    where: list[str] = typer.Option(
        ...,
        "--where",
        help=_("項目=値。項目: kind, organisation, role, format, charset, status, list。"
               "同じ項目を繰り返すとどれか（OR）、異なる項目はすべて（AND）。"),
    ),
    title: str = typer.Option("", "--title", help=_("題名")),
) -> None:
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
        _("セグメント {name} を作成しました: {filter}（現在 {count} 名）").format(
            name=escape(name), filter=escape(flt.describe()), count=count),
        highlight=False,
        soft_wrap=True,
    )


def _count(engine: Engine, flt: SegmentFilter) -> int:
    ids = segment_subscriber_ids(engine=engine, segment=flt).subquery()
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ids)).scalar_one())


@segments_app.command("show", help=_(
    "すべてのセグメントを条件と人数とともに表示します。名前を与えるとその購読者を表示します。"))
def segments_show(
    name: str | None = typer.Argument(None, help=_("セグメント: その購読者を一覧します")),
) -> None:
    engine = _engine()
    try:
        with Session(engine) as session:
            segments = (
                [get_segment(session=session, name=name)] if name else all_segments(session=session)
            )
        if name is None:
            table = Table(title=_("セグメント"))
            for col in (_("名前"), _("題名"), _("条件")):
                table.add_column(col)
            table.add_column(_("購読者"), justify="right")
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
    click.echo(_("セグメント {name}: {filter}: {count} 名").format(
        name=seg.name, filter=flt.describe(), count=len(rows)))
    for email, sub_name, organisation, roles, status in rows:
        status_text = SUBSCRIBER_LABELS[SubscriberStatus(status)]
        click.echo("\t".join((email, sub_name, organisation, roles, status_text)))
