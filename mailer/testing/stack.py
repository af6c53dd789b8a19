"""A running delivery stack for tests: SMTP sink, Celery worker(s) and beat.

Everything is real; the only seam is the sink's FaultPlan.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis
from sqlalchemy import Engine

from mailer.embedded.processes import Child, start_beat, start_worker
from mailer.embedded.smtp_sink import FaultPlan, SmtpSink
from mailer.services.send_progress import SendProgress, send_progress

# Strong by mailer.secrets_check (tests run it with MAILER_ENV=production too).
TEST_SECRET = "mailer-tests-7Gq2VwXk9RzP4nLm8TcY3hJs6BdF0aNeUo5iWr1"


@dataclass
class Stack:
    database_url: str
    redis_url: str
    workdir: Path
    engine: Engine
    sinks: list[SmtpSink] = field(default_factory=list)
    children: list[Child] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return {
            "MAILER_ENV": "local",
            "MAILER_DATABASE_URL": self.database_url,
            "MAILER_REDIS_URL": self.redis_url,
            "MAILER_SMTP_URL": ",".join(s.url for s in self.sinks),
            "MAILER_VAR_DIR": str(self.workdir),
            "MAILER_BASE_URL": "https://mailer.example.com",
            "MAILER_SECRET_KEY": TEST_SECRET,
            "MAILER_DISPATCH_INTERVAL": "0.5",
            "MAILER_RATE_LIMIT": "1000/s",
            "MAILER_RETRY_BASE_SECONDS": "1",
            "MAILER_RELAY_BACKOFF_SECONDS": "2",
            **self.extra_env,
        }

    def add_sink(self, faults: FaultPlan | None = None) -> SmtpSink:
        sink = SmtpSink(self.workdir / f"outbox{len(self.sinks)}", faults=faults).start()
        self.sinks.append(sink)
        return sink

    def start_worker(self, *, concurrency: int = 2, name: str | None = None) -> Child:
        n = len(self.children)
        child = start_worker(
            self.env(),
            self.workdir / f"worker{n}.log",
            concurrency=concurrency,
            hostname=name or f"w{n}",
        )
        self.children.append(child)
        return child

    def start_beat(self) -> Child:
        n = len(self.children)
        child = start_beat(
            {**self.env(), "MAILER_VAR_DIR": str(self.workdir / f"beat{n}")},
            self.workdir / f"beat{n}.log",
        )
        self.children.append(child)
        return child

    def flush_redis(self) -> None:
        redis.Redis.from_url(self.redis_url).flushdb()

    def wait_for(
        self, send_id: int, predicate: Callable[[SendProgress], bool], *, timeout: float = 90
    ) -> SendProgress:
        """Poll the send until predicate holds; raise AssertionError with logs on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            p = send_progress(engine=self.engine, send_id=send_id)
            if predicate(p):
                return p
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for send {send_id}: {p}\n{self.logs()}")
            time.sleep(0.2)

    def logs(self, tail: int = 60) -> str:
        out = []
        for c in self.children:
            try:
                lines = c.log.read_text(errors="replace").splitlines()[-tail:]
            except OSError:
                lines = []
            out.append(f"--- {c.log.name} ---\n" + "\n".join(lines))
        return "\n".join(out)

    def stop(self) -> None:
        for c in reversed(self.children):
            c.stop(timeout=15)
        self.children.clear()
        for s in self.sinks:
            s.stop()
