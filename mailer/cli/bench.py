"""`mailer bench`: the delivery pipeline against a ceiling and a naive design."""

from __future__ import annotations

import typer

from mailer.cli.common import console, err_console, fail


def bench(
    recipients: int = typer.Option(
        1000, "--recipients", "-n", min=1, help="subscribers to send to"
    ),
    workers: int = typer.Option(2, "--workers", "-w", min=1, help="worker processes (concurrency)"),
    sqlite: bool = typer.Option(False, "--sqlite", help="SQLite file instead of PostgreSQL"),
    json_out: bool = typer.Option(False, "--json", help="print the report as JSON"),
    sink: str = typer.Option("postfix", "--sink", help="postfix (smtp-sink) or builtin"),
    naive_cap: int = typer.Option(
        5000, "--naive-cap", min=1, help="at most this many messages for the naive design"
    ),
    skip_naive: bool = typer.Option(False, "--skip-naive", help="do not run the naive design"),
    skip_ceiling: bool = typer.Option(False, "--skip-ceiling", help="do not run the ceiling"),
    timeout: float = typer.Option(1800.0, "--timeout", help="give up on a design after this"),
    keep: bool = typer.Option(False, "--keep", help="keep the work directory with the logs"),
    part_kb: int = typer.Option(
        20,
        "--part-kb",
        min=0,
        help="cut the sample part to a message of at most this many KB (0: the whole part, 52 KB)",
    ),
) -> None:
    """Send N messages through the real pipeline to a fast local SMTP sink and
    compare with the ceiling (plain smtplib) and a naive design (a task per message).

    PostgreSQL: a fresh database on MAILER_BENCH_POSTGRES_URL's server
    (default postgresql://postgres@127.0.0.1:5432/test), dropped afterwards.
    Redis: MAILER_REDIS_URL, else a private redis-server.
    """
    from mailer.bench.runner import BenchOptions, run_bench

    if sink not in ("postfix", "builtin"):
        fail(f"--sink {sink!r}: expected postfix or builtin")
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
