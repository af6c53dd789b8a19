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
    says,
    settings_or_exit,
)
from mailer.db import session_scope
from mailer.i18n import N_, _
from mailer.runtime import render_config

#: what `issue load` did to the issue and each part (LoadStatus values)
LOAD_LABELS = {"created": N_("作成"), "updated": N_("更新"), "unchanged": N_("変更なし")}
#: a test send's outcome other than a Japanese reason (test_send.SENT)
TEST_SEND_LABELS = {"sent": N_("送信しました")}

issue_app = typer.Typer(
    help=_("号: 号のフォルダの読み込み、一覧、書き出し。Word の原稿から下書きを作ります。"),
    no_args_is_help=True)
part_app = typer.Typer(
    help=_("パート: 一覧、事前チェック、プレビュー、公開と公開の取り消し。"),
    no_args_is_help=True)


@issue_app.command("load", help=_(
    "号のフォルダを確かめて保存します（作成または更新。何度実行しても同じ結果）。\n\n"
    "誤りがあれば全体を受け付けず、問題をすべて「ファイル:行: 内容」の形で示します。"))
def issue_load(directory: Path = typer.Argument(..., help=_("号のフォルダ"))) -> None:
    from mailer.compose.errors import IssueFolderError
    from mailer.compose.load import load_issue

    settings = settings_or_exit()
    if not directory.is_dir():
        fail(_("{path}: フォルダではありません").format(path=directory))
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
        fail(_("問題が {count} 件あります。何も保存していません").format(count=len(exc.problems)))
    console.print(_("号 {slug}（ID {id}）: {status}").format(
        slug=result.slug, id=result.issue_id,
        status=_(LOAD_LABELS.get(result.status, result.status))))
    table = Table(_("パート"), _("状態"))
    for label, status in result.parts.items():
        table.add_row(label, _(LOAD_LABELS.get(str(status), str(status))))
    console.print(table)
    _print_part_ids(engine, result.issue_id)


@issue_app.command("export")
@says(_("保存している号を、mailer issue load でそのまま読み戻せる号のフォルダに書き出します。\n\n"
        "DIRECTORY の名前が号の識別名ならそこに、違えば DIRECTORY/SLUG に書き出します。"))
def issue_export(
    slug: str = typer.Argument(..., help=_("号の識別名（例: vol04）")),
    directory: Path = typer.Argument(..., help=_("書き出す先のフォルダ")),
    force: bool = typer.Option(False, "--force", help=_("空でないフォルダにも上書きします")),
) -> None:
    from mailer.services.errors import ServiceError
    from mailer.services.issue_export import export_issue

    engine = open_engine(settings_or_exit())
    try:
        result = export_issue(engine=engine, slug=slug, directory=directory, force=force)
    except ServiceError as exc:
        fail_service(exc)
    finally:
        engine.dispose()
    console.print(_("号 {slug} を {folder} に書き出しました（{count} ファイル）").format(
        slug=slug, folder=result.folder, count=len(result.files)),
                  highlight=False, soft_wrap=True, markup=False)
    for name in result.files:
        console.print(f"  {name}", highlight=False, markup=False)


@issue_app.command("import-docx")
@says(_("Word の原稿から号のフォルダの下書きを作り、取り込めなかったものを示します。\n\n"
        "取り込めなかったもの（表、テキストボックス、脚注、代替テキストのない画像、"
        "知らないスタイル）は、段落の番号を付けて一つずつ示します。"))
def issue_import_docx(
    source: Path = typer.Argument(..., help=_("Word の原稿（.docx）")),
    directory: Path = typer.Argument(..., help=_("書き出す下書きのフォルダ（名前が号の識別名）")),
    like: str = typer.Option("", "--like",
                             help=_("誌名・発行者・バックナンバーを引き継ぐ、保存済みの号")),
    force: bool = typer.Option(False, "--force", help=_("空でないフォルダにも上書きします")),
) -> None:
    from mailer.compose.document import IssueDocument
    from mailer.compose.errors import IssueFolderError
    from mailer.compose.parse import parse_issue_folder
    from mailer.services.docx_import import draft_from_docx
    from mailer.services.errors import ServiceError
    from mailer.services.issue_export import stored_issue, write_issue_folder

    if not source.is_file():
        fail(_("{path}: ファイルがありません").format(path=source))
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
    console.print(_("{source} から下書き {folder} を作りました").format(
        source=source.name, folder=directory), highlight=False, soft_wrap=True, markup=False)
    if draft.unplaced:
        console.print(_("取り込めなかったもの・確かめてほしいもの（{count} 件）:").format(
            count=len(draft.unplaced)), highlight=False, markup=False)
        for item in draft.unplaced:
            console.print(f"  {item}", highlight=False, soft_wrap=True, markup=False)
    try:
        parse_issue_folder(directory)
    except IssueFolderError as exc:
        console.print(_("下書きを読み込む前に直すところ:"), highlight=False, markup=False)
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
        console.print("  " + _("パート ID {id}: {label}  {subject}").format(
            id=pid, label=label, subject=subject), highlight=False)


PART_ID = typer.Argument(..., help=_("パートの ID"))


@part_app.command("check", help=_(
    "事前チェックを実行します。送信を妨げるものがあれば終了コード 1 で終わります。"))
def part_check(part_id: int = PART_ID) -> None:
    from mailer.services.parts import PartNotFound, preflight

    settings = settings_or_exit()
    engine = open_engine(settings)
    try:
        report = preflight(engine=engine, part_id=part_id, config=render_config(settings))
    except PartNotFound as exc:
        fail(str(exc))
    for f in report.findings:
        colour = "red" if f.severity == "error" else "yellow"
        severity = _("エラー") if f.severity == "error" else _("警告")
        console.print(
            f"[{colour}]{severity}[/] {f.code} {f.where}: {f.message}",
            highlight=False,
            soft_wrap=True,
        )
    if report.unsendable_readers:
        console.print(_("ISO-2022-JP で氏名を送れない購読者（{count} 名）:").format(
            count=len(report.unsendable_readers)), highlight=False)
        for r in report.unsendable_readers:
            console.print(
                "  " + _("{email}  {name}（{chars}）  編集：{url}").format(
                    email=r.email, name=r.name, chars="".join(r.chars), url=r.edit_url),
                highlight=False, soft_wrap=True, markup=False)
    elif report.iso2022jp_recipients:
        console.print(
            _("ISO-2022-JP を選んだ購読者（{count} 名）: ").format(
                count=len(report.iso2022jp_recipients))
            + ", ".join(report.iso2022jp_recipients),
            highlight=False,
        )
    console.print(_("エラー {errors} 件、警告 {warnings} 件").format(
        errors=len(report.errors), warnings=len(report.warnings)))
    if report.errors:
        raise typer.Exit(1)


@part_app.command("preview", help=_("購読者が受け取るとおりにパートを表示します。"))
def part_preview(
    part_id: int = PART_ID,
    format: str = typer.Option("text", "--format", help=_("html、text、eml、sanitized のいずれか")),
    subscriber: str | None = typer.Option(
        None, "--subscriber", help=_("このアドレスの購読者として表示します")),
    out: Path | None = typer.Option(
        None, "--out", help=_("標準出力ではなく、このファイルに書きます")),
) -> None:
    from sqlalchemy import select

    from mailer.models import Subscriber
    from mailer.render.message import Recipient
    from mailer.render.preview import preview
    from mailer.services.parts import PartNotFound, documents

    if format not in ("html", "text", "eml", "sanitized"):
        fail(_("--format {value}: html、text、eml、sanitized から選んでください").format(
            value=repr(format)))
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
            fail(_("--subscriber {email}: その購読者はいません").format(email=subscriber))
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
        console.print(_("{path} に書きました（{size} バイト）").format(path=out, size=len(data)))
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


@says(_("パートを指定のアドレスへ今すぐ、テストとして送ります。配信記録には残りません。\n\n"
       "読者が受け取るのと同じ経路で送ります: リレーを切り替え順に使い、DKIM で署名し、"
       "VERP のバウンス用アドレスから。送れなかったものがあれば終了コード 1 で終わります。"))
def test_send(
    part_id: int = PART_ID,
    to: list[str] = typer.Option(..., "--to", help=_("宛先のアドレス（繰り返し指定できます）")),
) -> None:
    from mailer.services.errors import ServiceError
    from mailer.services.test_send import test_send_part

    settings = settings_or_exit()
    engine = open_engine(settings)
    try:
        results = test_send_part(engine=engine, settings=settings, part_id=part_id, addresses=to)
    except ServiceError as exc:
        # the service names its field ("to: …") for the web; here it is the option --to
        fail("--to " + exc.message.removeprefix("to: ") if exc.field == "to" else exc.message)
    finally:
        engine.dispose()
    failed = 0
    for address, outcome in results:
        ok = outcome == "sent"
        failed += not ok
        shown = _(TEST_SEND_LABELS.get(outcome, outcome))
        console.print(f"{address}: {'[green]' if ok else '[red]'}{shown}[/]", highlight=False)
    if failed:
        raise typer.Exit(1)


PUBLISH_AS = typer.Option(
    "", "--as", help=_("操作する人: スタッフのメールアドレス（既定: $USER）"))


@part_app.command("publish", help=_(
    "パートを今すぐ公開します: アーカイブのページ、フィードの項目、画像"
    "（公開しなければ、最初の送信が始まったときに公開されます）。"))
def part_publish(part_id: int = PART_ID, as_: str = PUBLISH_AS) -> None:
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
    console.print(_("パート {part_id}: {at}（Asia/Tokyo）に {name} が公開しました").format(
        part_id=part_id, at=tokyo(at), name=actor.name), highlight=False, soft_wrap=True)


@part_app.command("unpublish", help=_(
    "パートの公開を取り消します: アーカイブのページ、フィードの項目、画像は再び 404 を返します"
    "（スタッフとプレビューのリンクからは見られます）。"))
def part_unpublish(part_id: int = PART_ID, as_: str = PUBLISH_AS) -> None:
    from mailer.services.actors import cli_actor
    from mailer.services.errors import ServiceError
    from mailer.services.publication import unpublish_part

    engine = open_engine(settings_or_exit())
    actor = cli_actor(engine=engine, name=as_ or os.environ.get("USER", "cli"))
    try:
        unpublish_part(engine=engine, actor=actor, part_id=part_id)
    except ServiceError as exc:
        fail_service(exc)
    console.print(_("パート {part_id}: {name} が公開を取り消しました").format(
        part_id=part_id, name=actor.name), highlight=False, soft_wrap=True)


def _register_lists() -> None:
    # `issue list` and `part list` live in catalogue.py (read models, no loading)
    from mailer.cli.catalogue import issue_list, part_list

    issue_app.command("list")(issue_list)
    part_app.command("list")(part_list)


_register_lists()
