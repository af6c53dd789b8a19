"""Top-level verbs: demo, db, worker, beat, send, schedule, status, and send control.

Registered on the `mailer` command by `mailer.cli.root.VERBS`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy import Engine

from mailer.cli.common import (
    console,
    fail,
    fail_service,
    open_engine,
    parse_time,
    ping_redis,
    refuse_weak_key,
    says,
    settings_or_exit,
    tokyo,
)
from mailer.db import make_engine, upgrade
from mailer.i18n import _
from mailer.labels import DELIVERY_LABELS, SEND_LABELS
from mailer.models import DeliveryStatus, SendStatus
from mailer.services.actors import Actor, cli_actor
from mailer.services.errors import ServiceError
from mailer.services.send_progress import SendProgress, send_progress, sends_for_part
from mailer.services.sends import CONTROLS, approve_send, schedule_send

if TYPE_CHECKING:
    from mailer.demo import DemoStack
    from mailer.settings import Settings

#: the verbs defined here; `mailer.cli.root.VERBS` names each (and those of the
#: other modules) for the `mailer` command, which imports this module only
#: when one of them runs
app = typer.Typer()
db_app = typer.Typer(help=_("データベースのスキーマ。"), no_args_is_help=True)


@db_app.command("upgrade", help=_("未適用のマイグレーションをすべて適用します（前進のみ）。"))
def db_upgrade() -> None:
    settings = settings_or_exit()
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    console.print(_("データベースのスキーマは最新です"))


@app.command()
@says(_("組み込みの既定値で一連の仕事を実行します: 見本の号 → 62 名の CIO → var/demo/outbox。"))
def demo(
    part2_delay: float = typer.Option(5.0, help=_("パート 1 とパート 2 の間の秒数")),
    timeout: float = typer.Option(180.0, help=_("この秒数で打ち切ります")),
    serve: bool = typer.Option(
        False, "--serve",
        help=_("Redis、SMTP の受け口、ワーカー、beat と管理画面をデモのデータで動かし続けます"
               "（Ctrl-C ですべて止まります）")),
    port: int = typer.Option(8000, "--port", help=_("--serve のとき: 127.0.0.1 のポート")),
    reset: bool = typer.Option(
        False, "--reset", help=_("前回のデモのデータ（var/demo）を消して最初からやり直します")),
) -> None:
    from mailer.cli.demo_serve import demo_serve_settings
    from mailer.demo import DemoBusy, demo_dir, demo_lock

    settings = settings_or_exit()
    if serve:
        settings = demo_serve_settings(settings, port)
    try:
        with demo_lock(settings):
            _demo(settings, part2_delay=part2_delay, timeout=timeout, serve=serve, port=port,
                  reset=reset)
    except DemoBusy as busy:
        who = _("（プロセス {pid}）").format(pid=busy.pid) if busy.pid else ""
        fail(_("別の mailer demo{who}が {folder} のデータで動いています。"
               "同じデータで 2 つ同時には動かせません。"
               "その端末で Ctrl-C で止めてから、もう一度実行してください"
               "（別のデータで試すなら MAILER_VAR_DIR を変えてください）").format(
                   who=who, folder=demo_dir(settings)))


def _demo(settings: Settings, *, part2_delay: float, timeout: float, serve: bool, port: int,
          reset: bool) -> None:
    """The demo's run, while it holds the demo's lock (see `demo`)."""
    from mailer.cli.demo_serve import serve_demo
    from mailer.demo import demo_dir, demo_stack, has_demo_data, reset_demo

    if reset:
        reset_demo(settings)
    elif has_demo_data(settings):
        if not serve:
            fail(_("{folder} に前回のデモのデータがあります（消さずに残しています）。"
                   "そのデータで管理画面を開くには mailer demo --serve、"
                   "消して最初からやり直すには mailer demo --reset を使ってください").format(
                       folder=demo_dir(settings)))
        console.print(_("前回のデモのデータをそのまま使います: {folder}"
                        "（最初からやり直すには --reset）").format(folder=demo_dir(settings)),
                      highlight=False, soft_wrap=True)
    fresh = reset or not has_demo_data(settings)
    console.print("[bold]mailer demo[/]: "
                  + _("Redis、SMTP の受け口、ワーカー、beat を起動しています …"))
    with demo_stack(settings) as stack:
        if fresh:
            _demo_sends(stack, part2_delay=part2_delay, timeout=timeout)
        if serve:
            serve_demo(stack, port)


def _demo_sends(stack: DemoStack, *, part2_delay: float, timeout: float) -> None:
    """Run the demo's two sends on `stack` with a progress bar and a summary;
    exit 1 unless every delivery is accounted for."""
    from mailer.demo import demo_sends

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[state]}"),
        TimeElapsedColumn(),
        console=console,
    )
    tasks: dict[str, TaskID] = {}

    def show(items: list[tuple[str, SendProgress]]) -> None:
        for label, p in items:
            done = p.done
            if label not in tasks:
                tasks[label] = progress.add_task(label, total=max(p.recipients, 1), state="")
            progress.update(
                tasks[label], completed=done, total=max(p.recipients, 1),
                state=SEND_LABELS[p.status],
            )

    with progress:
        result = demo_sends(stack, part2_delay=part2_delay, timeout=timeout, on_progress=show)
    console.print(summary_table(result.progress))
    console.print(_("送信箱: {path}").format(path=result.outbox), highlight=False,
                  soft_wrap=True)
    if not result.ok:
        fail(result.message or _("行き先の分からない配信があります"))
    console.print("[green]" + _("すべての配信の行き先を確認しました") + "[/]")


def summary_table(items: list[tuple[str, SendProgress]]) -> Table:
    table = Table(title=_("まとめ"))
    columns = (_("パート"), _("送信"), _("状態"), _("宛先数"),
               *(DELIVERY_LABELS[s] for s in (DeliveryStatus.SENT, DeliveryStatus.DEFERRED,
                                              DeliveryStatus.FAILED, DeliveryStatus.SKIPPED)))
    for index, col in enumerate(columns):
        table.add_column(col, justify="left" if index in (0, 2) else "right")
    for label, p in items:
        c = p.counts
        table.add_row(
            label,
            str(p.send_id),
            SEND_LABELS[p.status],
            str(p.recipients),
            str(c[DeliveryStatus.SENT]),
            str(c[DeliveryStatus.DEFERRED]),
            str(c[DeliveryStatus.FAILED]),
            str(c[DeliveryStatus.SKIPPED]),
        )
    return table


@app.command()
@says(_("バッチを配信する Celery ワーカーを動かします（MAILER_REDIS_URL が必要）。"))
def worker(
    concurrency: int = typer.Option(2, help=_("ワーカーのプロセス数")),
    loglevel: str = typer.Option("INFO", help=_("ログの水準")),
) -> None:
    settings = settings_or_exit()
    if not settings.redis_url:
        fail(_("MAILER_REDIS_URL: `mailer worker` には必須です（例: redis://127.0.0.1:6379/0）"))
    refuse_weak_key(settings)
    ping_redis(settings.redis_url)
    open_engine(settings).dispose()  # refuse a database without the schema
    from workers.app import app as celery_app

    celery_app.worker_main(["worker", f"--concurrency={concurrency}", f"--loglevel={loglevel}"])


@app.command()
@says(_("配信係を定期的に起こす beat スケジューラを動かします（MAILER_REDIS_URL が必要）。"))
def beat(loglevel: str = typer.Option("INFO", help=_("ログの水準"))) -> None:
    settings = settings_or_exit()
    if not settings.redis_url:
        fail(_("MAILER_REDIS_URL: `mailer beat` には必須です"))
    refuse_weak_key(settings)
    ping_redis(settings.redis_url)
    from workers.app import app as celery_app
    from workers.app import beat_schedule_path

    # The schedule file goes in the data folder (created when missing), so beat
    # starts from any folder.
    celery_app.start(
        ["beat", f"--loglevel={loglevel}", f"--schedule={beat_schedule_path(settings)}"]
    )


AS_OPTION = typer.Option(
    "", "--as", help=_("操作する人: スタッフのメールアドレス（既定: $USER）"))


def _actor(engine: Engine, as_: str) -> Actor:
    return cli_actor(engine=engine, name=as_ or os.environ.get("USER", "cli"))


OVERLAP_OPTION = typer.Option(
    "skip", "--overlap",
    help=_("そのパートを受け取った、または受け取り中の購読者: 除く（skip、既定）"
           "か、もう一度送る（again）"))


def _schedule(part_id: int, lists: list[str], at: str | None, as_: str, overlap: str) -> None:
    from mailer.runtime import render_config  # the renderer: only for the verbs that send

    settings = settings_or_exit()
    when = parse_time(at) if at else None
    engine = open_engine(settings)
    try:
        done = schedule_send(engine=engine, actor=_actor(engine, as_), part_id=part_id,
                             list_names=lists, at=when, config=render_config(settings),
                             overlap=overlap)
        p = send_progress(engine=engine, send_id=done.send_id)
    except ServiceError as exc:
        fail_service(exc)
    send_id = done.send_id
    console.print(_("送信 {send_id}: パート {part_id} を {lists} へ {at} に").format(
        send_id=send_id, part_id=part_id, lists=", ".join(lists), at=tokyo(p.scheduled_at)))
    if done.overlapping:
        what = (_("除外: {count} 名").format(count=done.skipped) if done.skipped
                else _("もう一度送ります（--overlap again）"))
        console.print(_("送信 {send_id}: {count} 名の購読者はこのパートを受け取り済みか"
                        "受け取り中です。{what}").format(
            send_id=send_id, count=done.overlapping, what=what))
    if settings.require_approval:
        console.print(_("送信 {send_id} は別の人の承認を待っています"
                        "（`mailer approve {send_id} --as EMAIL`）").format(send_id=send_id))


LIST_HELP = _("リスト名（繰り返し指定できます）")
AT_HELP = _("ISO 8601 の日時。時差を書かなければ Asia/Tokyo")


@app.command()
@says(_("パートを一つ以上のリストへ、事前チェックの後、今すぐ（または --at に）送ります。"))
def send(
    part_id: int = typer.Argument(..., help=_("送るパート")),
    list_: list[str] = typer.Option(..., "--list", help=LIST_HELP),
    at: str | None = typer.Option(None, "--at", help=AT_HELP),
    as_: str = AS_OPTION,
    overlap: str = OVERLAP_OPTION,
) -> None:
    _schedule(part_id, list_, at, as_, overlap)


@app.command()
@says(_("パートを後の日時に予約します（データベースに保存され、配信係が始めます）。"))
def schedule(
    part_id: int = typer.Argument(..., help=_("送るパート")),
    list_: list[str] = typer.Option(..., "--list", help=LIST_HELP),
    at: str = typer.Option(..., "--at", help=AT_HELP),
    as_: str = AS_OPTION,
    overlap: str = OVERLAP_OPTION,
) -> None:
    _schedule(part_id, list_, at, as_, overlap)


def _engine():  # type: ignore[no-untyped-def]
    return open_engine(settings_or_exit())


def print_progress(p: SendProgress) -> None:
    table = Table(title=_("送信 {send_id}（パート {part_id}）: {status}").format(
        send_id=p.send_id, part_id=p.part_id, status=SEND_LABELS[p.status]))
    table.add_column(_("状態"))
    table.add_column(_("件数"), justify="right")
    for state, n in p.counts.items():
        table.add_row(DELIVERY_LABELS[state], str(n))
    console.print(table)
    console.print(f"{DELIVERY_LABELS[DeliveryStatus.UNKNOWN]}: {p.unknown}")
    eta = (_("{seconds} 秒").format(seconds=f"{p.eta_seconds:.0f}")
           if p.eta_seconds is not None else "-")
    console.print(_("予定 {scheduled}  開始 {started}  終了 {finished}").format(
        scheduled=tokyo(p.scheduled_at), started=tokyo(p.started_at),
        finished=tokyo(p.finished_at)))
    console.print(
        _("宛先数（開始時に確定）: {recipients}  速さ: {rate}/秒  残り時間: {eta}").format(
            recipients=p.recipients, rate=f"{p.rate_per_second:.1f}", eta=eta))
    if p.later_joiners:
        console.print(
            _("{count} 名の購読者は開始の後にリストに加わったため、含まれていません").format(
                count=p.later_joiners))
    if p.approved_by:
        console.print(_("承認: {name}").format(name=p.approved_by))
    if p.note:
        console.print(_("メモ: {note}").format(note=p.note))


@app.command()
@says(_("パートの送信ごとに、状態ごとの件数、速さ、残り時間を表示します。"))
def status(part_id: int = typer.Argument(..., help=_("送信を表示するパート"))) -> None:
    engine = _engine()
    ids = sends_for_part(engine=engine, part_id=part_id)
    if not ids:
        fail(_("パート {part_id}: 送信はありません").format(part_id=part_id))
    for send_id in ids:
        print_progress(send_progress(engine=engine, send_id=send_id))


def _control(action: str, send_id: int, as_: str, verb: str) -> None:
    engine = _engine()
    try:
        result = CONTROLS[action](engine=engine, actor=_actor(engine, as_), send_id=send_id)
    except ServiceError as exc:
        fail_service(exc)
    shown = (SEND_LABELS[result] if isinstance(result, SendStatus)
             else _("{count} 件").format(count=result))
    console.print(_("送信 {send_id}: {verb}（{result}）").format(
        send_id=send_id, verb=verb, result=shown))


SEND_ID = typer.Argument(..., help=_("送信の ID"))


@app.command()
@says(_("送信を一時停止します。処理中のバッチは次の確認で止まります。"))
def pause(send_id: int = SEND_ID, as_: str = AS_OPTION) -> None:
    _control("pause", send_id, as_, _("一時停止しました"))


@app.command()
@says(_("一時停止した送信を再開します。"))
def resume(send_id: int = SEND_ID, as_: str = AS_OPTION) -> None:
    _control("resume", send_id, as_, _("再開しました"))


@app.command()
@says(_("送信を取り消します。まだ送っていない配信は取り消されます。"))
def cancel(send_id: int = SEND_ID, as_: str = AS_OPTION) -> None:
    _control("cancel", send_id, as_, _("取り消しました"))


@app.command()
@says(_("送信を承認します（MAILER_REQUIRE_APPROVAL=true のとき、送る前に必要です）。"))
def approve(
    send_id: int = SEND_ID,
    as_: str = typer.Option(
        "", "--as", help=_("承認する人: スタッフのメールアドレス（既定: $USER）。"
                           "作成した人とは別の人でなければなりません")
    ),
) -> None:
    engine = _engine()
    actor = _actor(engine, as_)
    try:
        approve_send(engine=engine, actor=actor, send_id=send_id)
    except ServiceError as exc:
        fail_service(exc)
    console.print(_("送信 {send_id}: {name} が承認しました").format(
        send_id=send_id, name=actor.name))


@app.command("resend-failed")
@says(_("送信の失敗した配信をもう一度キューに入れます。"))
def resend_failed_cmd(send_id: int = SEND_ID, as_: str = AS_OPTION) -> None:
    _control("resend-failed", send_id, as_, _("失敗した配信をもう一度キューに入れました"))


