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
    settings_or_exit,
    tokyo,
)
from mailer.db import make_engine, upgrade
from mailer.models import DeliveryStatus
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
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration (forward only)."""
    settings = settings_or_exit()
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    console.print("database schema is current")


@app.command()
def demo(
    part2_delay: float = typer.Option(5.0, help="seconds between part 1 and part 2"),
    timeout: float = typer.Option(180.0, help="give up after this many seconds"),
    serve: bool = typer.Option(
        False, "--serve",
        help="keep Redis, the SMTP sink, worker, beat and the web admin running on the "
             "demo's data (Ctrl-C stops them all)"),
    port: int = typer.Option(8000, "--port", help="with --serve: the port on 127.0.0.1"),
    reset: bool = typer.Option(
        False, "--reset", help="remove the earlier demo's data (var/demo) and start over"),
) -> None:
    """Run the whole job on embedded defaults: sample issue → 62 CIOs → var/demo/outbox."""
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
        fail(f"別の mailer demo{f'（プロセス {busy.pid}）' if busy.pid else ''}が "
             f"{demo_dir(settings)} のデータで動いています。同じデータで 2 つ同時には動かせません。"
             "その端末で Ctrl-C で止めてから、もう一度実行してください"
             "（別のデータで試すなら MAILER_VAR_DIR を変えてください）")


def _demo(settings: Settings, *, part2_delay: float, timeout: float, serve: bool, port: int,
          reset: bool) -> None:
    """The demo's run, while it holds the demo's lock (see `demo`)."""
    from mailer.cli.demo_serve import serve_demo
    from mailer.demo import demo_dir, demo_stack, has_demo_data, reset_demo

    if reset:
        reset_demo(settings)
    elif has_demo_data(settings):
        if not serve:
            fail(f"{demo_dir(settings)} に前回のデモのデータがあります（消さずに残しています）。"
                 "そのデータで管理画面を開くには mailer demo --serve、"
                 "消して最初からやり直すには mailer demo --reset を使ってください")
        console.print(f"前回のデモのデータをそのまま使います: {demo_dir(settings)}"
                      "（最初からやり直すには --reset）", highlight=False, soft_wrap=True)
    fresh = reset or not has_demo_data(settings)
    console.print("[bold]mailer demo[/]: Redis、SMTP シンク、ワーカー、beat を起動しています …")
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
            done = sum(
                p.counts[s]
                for s in (
                    DeliveryStatus.SENT,
                    DeliveryStatus.FAILED,
                    DeliveryStatus.SKIPPED,
                    DeliveryStatus.CANCELLED,
                )
            )
            if label not in tasks:
                tasks[label] = progress.add_task(label, total=max(p.recipients, 1), state="")
            progress.update(
                tasks[label], completed=done, total=max(p.recipients, 1), state=p.status.value
            )

    with progress:
        result = demo_sends(stack, part2_delay=part2_delay, timeout=timeout, on_progress=show)
    console.print(summary_table(result.progress))
    console.print(f"outbox: {result.outbox}", highlight=False, soft_wrap=True)
    if not result.ok:
        fail(result.message or "not every delivery is accounted for")
    console.print("[green]every delivery is accounted for[/]")


def summary_table(items: list[tuple[str, SendProgress]]) -> Table:
    table = Table(title="summary")
    for col in ("part", "send", "status", "recipients", "sent", "deferred", "failed", "skipped"):
        table.add_column(col, justify="right" if col not in ("part", "status") else "left")
    for label, p in items:
        c = p.counts
        table.add_row(
            label,
            str(p.send_id),
            p.status.value,
            str(p.recipients),
            str(c[DeliveryStatus.SENT]),
            str(c[DeliveryStatus.DEFERRED]),
            str(c[DeliveryStatus.FAILED]),
            str(c[DeliveryStatus.SKIPPED]),
        )
    return table


@app.command()
def worker(
    concurrency: int = typer.Option(2, help="worker processes"),
    loglevel: str = typer.Option("INFO"),
) -> None:
    """Run a Celery worker that delivers batches (needs MAILER_REDIS_URL)."""
    settings = settings_or_exit()
    if not settings.redis_url:
        fail("MAILER_REDIS_URL: required for `mailer worker` (e.g. redis://127.0.0.1:6379/0)")
    refuse_weak_key(settings)
    ping_redis(settings.redis_url)
    open_engine(settings).dispose()  # refuse a database without the schema
    from workers.app import app as celery_app

    celery_app.worker_main(["worker", f"--concurrency={concurrency}", f"--loglevel={loglevel}"])


@app.command()
def beat(loglevel: str = typer.Option("INFO")) -> None:
    """Run the beat scheduler that ticks the dispatcher (needs MAILER_REDIS_URL)."""
    settings = settings_or_exit()
    if not settings.redis_url:
        fail("MAILER_REDIS_URL: required for `mailer beat`")
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
    "", "--as", help="who is acting: a staff user's email (default: $USER)")


def _actor(engine: Engine, as_: str) -> Actor:
    return cli_actor(engine=engine, name=as_ or os.environ.get("USER", "cli"))


OVERLAP_OPTION = typer.Option(
    "skip", "--overlap",
    help="subscribers who already got the part or are getting it: skip them (default) "
         "or send it to them again (again)")


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
    console.print(f"send {send_id}: part {part_id} to {', '.join(lists)} at "
                  f"{tokyo(p.scheduled_at)}")
    if done.overlapping:
        what = (f"skipped: {done.skipped}" if done.skipped
                else "sent again (--overlap again)")
        console.print(f"send {send_id}: {done.overlapping} subscriber(s) already got this part "
                      f"or are getting it; {what}")
    if settings.require_approval:
        console.print(f"send {send_id} waits for approval by someone else "
                      f"(`mailer approve {send_id} --as EMAIL`)")


@app.command()
def send(
    part_id: int = typer.Argument(..., help="the part to send"),
    list_: list[str] = typer.Option(..., "--list", help="list name (repeatable)"),
    at: str | None = typer.Option(None, "--at", help="ISO 8601 time; no offset = Asia/Tokyo"),
    as_: str = AS_OPTION,
    overlap: str = OVERLAP_OPTION,
) -> None:
    """Send a part to one or more lists now (or at --at), after its preflight check."""
    _schedule(part_id, list_, at, as_, overlap)


@app.command()
def schedule(
    part_id: int = typer.Argument(...),
    list_: list[str] = typer.Option(..., "--list", help="list name (repeatable)"),
    at: str = typer.Option(..., "--at", help="ISO 8601 time; no offset = Asia/Tokyo"),
    as_: str = AS_OPTION,
    overlap: str = OVERLAP_OPTION,
) -> None:
    """Schedule a part for a later time (kept in the database, started by the dispatcher)."""
    _schedule(part_id, list_, at, as_, overlap)


def _engine():  # type: ignore[no-untyped-def]
    return open_engine(settings_or_exit())


def print_progress(p: SendProgress) -> None:
    table = Table(title=f"send {p.send_id} (part {p.part_id}): {p.status.value}")
    table.add_column("state")
    table.add_column("rows", justify="right")
    for state, n in p.counts.items():
        table.add_row(state.value, str(n))
    console.print(table)
    eta = f"{p.eta_seconds:.0f} s" if p.eta_seconds is not None else "-"
    console.print(
        f"scheduled {tokyo(p.scheduled_at)}  started {tokyo(p.started_at)}  "
        f"finished {tokyo(p.finished_at)}"
    )
    console.print(
        f"recipients (frozen at start): {p.recipients}  rate: {p.rate_per_second:.1f}/s  ETA: {eta}"
    )
    if p.later_joiners:
        console.print(
            f"{p.later_joiners} subscriber(s) joined the lists after the start and are not included"
        )
    if p.approved_by:
        console.print(f"approved by {p.approved_by}")
    if p.note:
        console.print(f"note: {p.note}")


@app.command()
def status(part_id: int = typer.Argument(..., help="the part whose sends to show")) -> None:
    """Show counts per state, rate and ETA for every send of a part."""
    engine = _engine()
    ids = sends_for_part(engine=engine, part_id=part_id)
    if not ids:
        fail(f"part {part_id}: no sends")
    for send_id in ids:
        print_progress(send_progress(engine=engine, send_id=send_id))


def _control(action: str, send_id: int, as_: str, verb: str) -> None:
    engine = _engine()
    try:
        result = CONTROLS[action](engine=engine, actor=_actor(engine, as_), send_id=send_id)
    except ServiceError as exc:
        fail_service(exc)
    console.print(f"send {send_id}: {verb} ({result})")


@app.command()
def pause(send_id: int, as_: str = AS_OPTION) -> None:
    """Pause a send; batches in flight stop at their next check."""
    _control("pause", send_id, as_, "paused")


@app.command()
def resume(send_id: int, as_: str = AS_OPTION) -> None:
    """Resume a paused send."""
    _control("resume", send_id, as_, "resumed")


@app.command()
def cancel(send_id: int, as_: str = AS_OPTION) -> None:
    """Cancel a send; deliveries not yet sent are cancelled."""
    _control("cancel", send_id, as_, "cancelled")


@app.command()
def approve(
    send_id: int,
    as_: str = typer.Option(
        "", "--as", help="approver: a staff user's email (default: $USER); "
        "must be another person than the creator"
    ),
) -> None:
    """Approve a send (needed before it goes out when MAILER_REQUIRE_APPROVAL=true)."""
    engine = _engine()
    actor = _actor(engine, as_)
    try:
        approve_send(engine=engine, actor=actor, send_id=send_id)
    except ServiceError as exc:
        fail_service(exc)
    console.print(f"send {send_id}: approved by {actor.name}")


@app.command("resend-failed")
def resend_failed_cmd(send_id: int, as_: str = AS_OPTION) -> None:
    """Queue the failed deliveries of a send again."""
    _control("resend-failed", send_id, as_, "failed deliveries queued again")


