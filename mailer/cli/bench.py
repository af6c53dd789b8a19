"""`mailer bench`: the delivery pipeline against a ceiling and a naive design."""

from __future__ import annotations

import typer

from mailer.cli.common import console, err_console, fail, says
from mailer.i18n import _


@says(_("N 通のメールを本物の配信経路で手元の速い SMTP の受け口へ送り、上限（素の smtplib）と"
        "素朴な設計（メール 1 通に 1 タスク）と比べます。\n\n"
        "PostgreSQL: MAILER_BENCH_POSTGRES_URL のサーバーに新しいデータベースを作り"
        "（既定 postgresql://postgres@127.0.0.1:5432/test）、終われば削除します。"
        "Redis: MAILER_REDIS_URL、なければ専用の redis-server。"))
def bench(
    recipients: int = typer.Option(
        1000, "--recipients", "-n", min=1, help=_("送る相手の購読者数")
    ),
    workers: int = typer.Option(
        2, "--workers", "-w", min=1, help=_("ワーカーのプロセス数（並行数）")),
    sqlite: bool = typer.Option(
        False, "--sqlite", help=_("PostgreSQL の代わりに SQLite のファイルを使います")),
    json_out: bool = typer.Option(False, "--json", help=_("報告を JSON で出力します")),
    sink: str = typer.Option(
        "postfix", "--sink", help=_("postfix（smtp-sink）または builtin")),
    naive_cap: int = typer.Option(
        5000, "--naive-cap", min=1, help=_("素朴な設計で送るメールの上限数")
    ),
    skip_naive: bool = typer.Option(
        False, "--skip-naive", help=_("素朴な設計を実行しません")),
    skip_ceiling: bool = typer.Option(False, "--skip-ceiling", help=_("上限を測りません")),
    timeout: float = typer.Option(
        1800.0, "--timeout", help=_("一つの設計をこの秒数で打ち切ります")),
    keep: bool = typer.Option(
        False, "--keep", help=_("ログのある作業フォルダを残します")),
    part_kb: int = typer.Option(
        20,
        "--part-kb",
        min=0,
        help=_("見本のパートを最大この KB のメールに切り詰めます（0: パート全体、52 KB）"),
    ),
) -> None:
    from mailer.bench.runner import BenchOptions, run_bench

    if sink not in ("postfix", "builtin"):
        fail(_("--sink {value}: postfix か builtin にしてください").format(value=repr(sink)))
    opts = BenchOptions(
        recipients=recipients,
        workers=workers,
        sqlite=sqlite,
        sink=sink,
        naive_cap=naive_cap,
        naive=not skip_naive,
        ceiling=not skip_ceiling,
        timeout=timeout,
        keep=keep,
        part_kb=part_kb,
    )

    def say(msg: str) -> None:
        err_console.print(msg, highlight=False)

    report = run_bench(opts, say=say)
    if json_out:
        print(report.to_json())
    else:
        report.print(console)
    mailer_row = report.row("mailer")
    if mailer_row is None or mailer_row.messages < recipients:
        raise typer.Exit(1)
