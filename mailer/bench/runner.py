"""One bench run: product pipeline, ceiling and naive design on the same sink."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from mailer.bench import naive as naive_mod
from mailer.bench.ceiling import run_ceiling
from mailer.bench.data import prepare_database
from mailer.bench.machine import describe
from mailer.bench.message import render_sample, trim_part, write_naive_template
from mailer.bench.product import run_product, wait_ready
from mailer.bench.report import BenchReport, DesignRow
from mailer.bench.services import (
    BenchDatabase,
    BenchRedis,
    BenchSink,
    create_postgres_database,
    create_sqlite_database,
    start_redis,
    start_sink,
)
from mailer.bench.stats import CpuMeter, peak_rss_bytes, process_tree
from mailer.db import make_engine
from mailer.settings import Settings

SECRET = "bench-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"
BASE_URL = "https://mailer.example.com"
RATE = "10000000/s"


@dataclass
class BenchOptions:
    recipients: int = 1000
    workers: int = 2
    sqlite: bool = False
    sink: str = "postfix"  # or "builtin"
    naive_cap: int = 5000
    naive: bool = True
    ceiling: bool = True
    timeout: float = 1800.0
    keep: bool = False  # keep the work directory (logs)
    #: cut part 1 to a message of at most this many KB (0: the whole part)
    part_kb: int = 20


def _settings(
    db: BenchDatabase, redis_url: str, sink: BenchSink, workdir: Path, workers: int
) -> tuple[Settings, dict[str, str]]:
    env = {
        "MAILER_ENV": "local",
        "MAILER_DATABASE_URL": db.url,
        "MAILER_REDIS_URL": redis_url,
        "MAILER_SMTP_URL": sink.url,
        "MAILER_VAR_DIR": str(workdir),
        "MAILER_BASE_URL": BASE_URL,
        "MAILER_SECRET_KEY": SECRET,
        "MAILER_RATE_LIMIT": RATE,
        "MAILER_PARALLELISM": str(max(workers, 1)),
    }
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=db.url,
        redis_url=redis_url,
        smtp_url=sink.url,
        var_dir=workdir,
        base_url=BASE_URL,
        secret_key=SECRET,
        rate_limit=RATE,
        parallelism=max(workers, 1),
    )
    return settings, env


def run_bench(opts: BenchOptions, *, say: Callable[[str], None] = print) -> BenchReport:
    workdir = Path(tempfile.mkdtemp(prefix="mailer-bench-"))
    sink: BenchSink | None = None
    redis: BenchRedis | None = None
    db: BenchDatabase | None = None
    engine = None
    try:
        sink = start_sink(opts.sink)
        redis = start_redis(workdir)
        db = create_sqlite_database(workdir) if opts.sqlite else create_postgres_database()
        engine = make_engine(db.url)
        say(f"seeding {opts.recipients} subscribers ({db.kind}) …")
        seeded = prepare_database(engine, opts.recipients)
        settings, env = _settings(db, redis.url, sink, workdir, opts.workers)
        blocks = None
        if opts.part_kb:
            blocks = trim_part(engine, settings, seeded.part_id, opts.part_kb * 1024)
        sample = render_sample(engine, settings, seeded.part_id)
        report = BenchReport(
            options={**asdict(opts), "database": db.kind},
            machine=describe(redis_url=redis.url, database_url=db.url),
            part={
                "message_bytes": sample.size,
                "text_bytes": sample.text_bytes,
                "html_bytes": sample.html_bytes,
                "prepare_ms": round(sample.prepare_seconds * 1000, 1),
                "blocks_kept": blocks,
                "seed_seconds": round(seeded.seconds, 2),
            },
            sink=sink.kind,
            warnings=list(sink.warnings),
        )
        for w in sink.warnings:
            say(f"warning: {w}")

        say(f"product: {opts.recipients} recipients, worker concurrency {opts.workers} …")
        sink_meter = _sink_meter(sink)
        p = run_product(
            engine=engine,
            env=env,
            workdir=workdir / "product",
            part_id=seeded.part_id,
            list_name=seeded.list_name,
            recipients=opts.recipients,
            workers=opts.workers,
            timeout=opts.timeout,
            redis_pid=redis.pid,
        )
        report.rows.append(
            DesignRow(
                design="mailer",
                messages=p.sent,
                seconds=p.seconds,
                latencies=p.latencies,
                latency_unit="claimed batch (claim → last outcome recorded, from the ledger)",
                peak_rss_bytes=max(p.pool_peak_rss, default=0),
                cpu_seconds=p.cpu_seconds,
                sink_cpu_seconds=_sink_cpu(sink_meter),
                note=("TIMED OUT; " if p.timed_out else "")
                + f"{len(p.latencies)} batches observed, {p.claims_seen} claims seen",
            )
        )
        report.product = {
            "counts": p.counts,
            "dispatch_lag_s": round(p.dispatch_lag, 3),
            "first_sent_s": round(p.first_sent, 3),
            "pool_peak_rss_mib": [round(x / 2**20, 1) for x in p.pool_peak_rss],
            "worker_main_peak_rss_mib": round(p.main_peak_rss / 2**20, 1),
            "db_cpu_s": None if p.db_cpu_seconds is None else round(p.db_cpu_seconds, 2),
            "redis_cpu_s": None if p.redis_cpu_seconds is None else round(p.redis_cpu_seconds, 2),
            "mean_batch": round(sum(p.batch_sizes) / len(p.batch_sizes), 1)
            if p.batch_sizes
            else None,
        }

        if opts.ceiling:
            say(f"ceiling: {opts.recipients} messages from {opts.workers} processes …")
            sink_meter = _sink_meter(sink)
            c = run_ceiling(
                host=sink.host,
                port=sink.port,
                envelope_from=sample.envelope_from,
                data=sample.data,
                messages=opts.recipients,
                workers=opts.workers,
            )
            report.rows.append(
                DesignRow(
                    design="ceiling",
                    messages=c.messages,
                    seconds=c.seconds,
                    latencies=c.latencies,
                    latency_unit="200 messages on one connection",
                    peak_rss_bytes=max(c.peak_rss, default=0),
                    cpu_seconds=c.cpu_seconds,
                    sink_cpu_seconds=_sink_cpu(sink_meter),
                    note=f"{c.errors} errors" if c.errors else "",
                )
            )

        if opts.naive:
            m = min(opts.recipients, opts.naive_cap)
            say(f"naive: {m} tasks, worker concurrency {opts.workers} …")
            sink_meter = _sink_meter(sink)
            row = _run_naive(opts, redis.url, sink, sample, settings, workdir, m)
            row.sink_cpu_seconds = _sink_cpu(sink_meter)
            report.rows.append(row)
        report.compute_ratios()
        return report
    finally:
        if engine is not None:
            engine.dispose()
        for closer in (db, redis, sink):
            if closer is not None:
                try:
                    closer.close()
                except Exception as exc:  # cleanup must go on
                    say(f"warning: cleanup: {exc}")
        if not opts.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            say(f"work directory kept: {workdir}")


def _sink_meter(sink: BenchSink) -> CpuMeter | None:
    """Meter smtp-sink's CPU (it is idle between designs, so whole phases do)."""
    if sink.pid is None:
        return None
    meter = CpuMeter()
    meter.start([sink.pid])
    return meter


def _sink_cpu(meter: CpuMeter | None) -> float | None:
    return None if meter is None else meter.stop()


def _run_naive(
    opts: BenchOptions,
    broker: str,
    sink: BenchSink,
    sample: object,
    settings: Settings,
    workdir: Path,
    m: int,
) -> DesignRow:
    template = write_naive_template(sample, settings, workdir / "naive-part.json")  # type: ignore[arg-type]
    child = naive_mod.start_naive_worker(
        broker=broker,
        smtp=f"{sink.host}:{sink.port}",
        template=template,
        log=workdir / "naive" / "worker.log",
        concurrency=opts.workers,
    )
    try:
        wait_ready(child)
        meter = CpuMeter()
        meter.start(process_tree(child.process.pid))
        t0 = time.perf_counter()
        naive_mod.enqueue(broker, m)
        deadline = time.monotonic() + opts.timeout
        done = 0
        while True:
            done, _ = naive_mod.progress(broker, latencies=False)
            if done >= m or time.monotonic() > deadline:
                break
            if child.process.poll() is not None:
                raise RuntimeError(f"the naive worker stopped; see {child.log}")
            time.sleep(0.05)
        seconds = time.perf_counter() - t0
        done, lat = naive_mod.progress(broker)
        pool = [p for p in process_tree(child.process.pid) if p != child.process.pid]
        rss = max((peak_rss_bytes(p) for p in pool), default=0)
        cpu = meter.stop(pool)
    finally:
        child.stop(timeout=20)
    capped = f"capped sample of {m} of {opts.recipients}; " if m < opts.recipients else ""
    return DesignRow(
        design="naive",
        messages=done,
        seconds=seconds,
        latencies=lat,
        latency_unit="task (MIME build + connect + send)",
        peak_rss_bytes=rss,
        cpu_seconds=cpu,
        note=capped + ("TIMED OUT" if done < m else ""),
    )
