"""The naive design, for comparison only: one Celery task per recipient that
builds the whole MIME message with the `email` package and opens a new SMTP
connection for it.

It runs on its own Celery app and queue (`bench-naive`), started as
`celery -A mailer.bench.naive worker -Q bench-naive`, so it never touches the
product's workers. The worker reads its broker, the SMTP sink and the
rendered bodies from MAILER_BENCH_NAIVE_* variables.
"""

from __future__ import annotations

import functools
import json
import os
import smtplib
import subprocess
import sys
import time
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

import redis
from celery import Celery

from mailer.embedded.processes import Child
from mailer.render.context import greeting_text, slot_marker

QUEUE = "bench-naive"
TASK = "mailer.bench.naive_send"
DONE_KEY = "mailer-bench:naive:done"
LATENCY_KEY = "mailer-bench:naive:latency"


def make_app(broker: str) -> Celery:
    app = Celery("mailer_bench_naive", broker=broker)
    app.conf.update(
        task_default_queue=QUEUE,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
    )
    return app


app = make_app(os.environ.get("MAILER_BENCH_NAIVE_BROKER", "memory://"))


@functools.cache
def _template() -> dict[str, str]:
    path = os.environ["MAILER_BENCH_NAIVE_PART"]
    data: dict[str, str] = json.loads(Path(path).read_text(encoding="utf-8"))
    return data


@functools.cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(os.environ["MAILER_BENCH_NAIVE_BROKER"])


def build_message(tpl: Mapping[str, str], *, email: str, name: str, n: int) -> EmailMessage:
    """The whole message, the `email` package way."""
    base = tpl["base_url"]
    unsub = f"{base}/u/naive-{n}"
    prefs = f"{base}/p/naive-{n}"
    greet = greeting_text(name, "様")
    text = (
        tpl["text"]
        .replace(slot_marker("greeting"), f"{greet}\n\n")
        .replace(slot_marker("unsubscribe_url"), unsub)
        .replace(slot_marker("preferences_url"), prefs)
    )
    html = (
        tpl["html"]
        .replace(slot_marker("greeting"), greet)
        .replace(slot_marker("unsubscribe_url"), unsub)
        .replace(slot_marker("preferences_url"), prefs)
    )
    msg = EmailMessage()
    msg["From"] = tpl["from"]
    msg["To"] = f"{name} <{email}>"
    msg["Subject"] = tpl["subject"]
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain="mailer.example.com")
    msg["List-Id"] = tpl["list_id"]
    msg["List-Unsubscribe"] = f"<{unsub}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


@app.task(name=TASK, ignore_result=True)
def naive_send(email: str, name: str, n: int) -> None:
    t0 = time.perf_counter()
    tpl = _template()
    msg = build_message(tpl, email=email, name=name, n=n)
    host, port = os.environ["MAILER_BENCH_NAIVE_SMTP"].rsplit(":", 1)
    with smtplib.SMTP(host, int(port), timeout=30) as smtp:
        # send_message serialises with CRLF line ends (as_bytes() would give bare LF,
        # which smtplib sends unchanged and a strict server rejects).
        smtp.send_message(msg, from_addr=tpl["envelope_from"], to_addrs=[email])
    r = _redis()
    r.rpush(LATENCY_KEY, f"{time.perf_counter() - t0:.6f}")
    r.incr(DONE_KEY)


def start_naive_worker(
    *, broker: str, smtp: str, template: Path, log: Path, concurrency: int
) -> Child:
    """Start a worker of this app only (queue `bench-naive`)."""
    env = {
        **os.environ,
        "MAILER_BENCH_NAIVE_BROKER": broker,
        "MAILER_BENCH_NAIVE_SMTP": smtp,
        "MAILER_BENCH_NAIVE_PART": str(template),
    }
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "mailer.bench.naive",
                "worker",
                "-Q",
                QUEUE,
                f"--concurrency={concurrency}",
                "--pool=prefork",
                "--loglevel=INFO",
                "--hostname=bench-naive@%h",
                "--without-mingle",
                "--without-gossip",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Child("naive-worker", process, log)


def enqueue(broker: str, messages: int) -> None:
    client = make_app(broker)
    r = redis.Redis.from_url(broker)
    r.delete(DONE_KEY, LATENCY_KEY)
    with client.connection_for_write() as conn:
        for i in range(messages):
            client.send_task(
                TASK,
                args=(f"cio{i:07d}@city{i % 1000:03d}.example.jp", f"髙橋 太郎{i}", i),
                queue=QUEUE,
                connection=conn,
            )


def progress(broker: str, *, latencies: bool = True) -> tuple[int, list[float]]:
    r = redis.Redis.from_url(broker)
    done = int(r.get(DONE_KEY) or 0)
    lat = [float(x) for x in r.lrange(LATENCY_KEY, 0, -1)] if latencies else []
    return done, lat
