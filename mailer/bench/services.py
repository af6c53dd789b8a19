"""What a bench run needs around the product: a fresh database, Redis and a
fast SMTP sink. Each is started (or created) and stopped (or dropped) by the run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from mailer.embedded.redis_server import EmbeddedRedis, free_port, start_embedded_redis
from mailer.embedded.smtp_sink import SinkHandler, SmtpSink

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
SMTP_SINK_PATHS = ("/usr/sbin/smtp-sink", "/usr/lib/postfix/sbin/smtp-sink")


# -- database -----------------------------------------------------------------


@dataclass
class BenchDatabase:
    url: str  # SQLAlchemy URL (postgresql+psycopg://… or sqlite:///…)
    kind: str  # "postgresql" | "sqlite"
    drop: Any = None  # callable that removes it

    def close(self) -> None:
        if self.drop is not None:
            self.drop()
            self.drop = None


def _psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def create_postgres_database(admin_url: str | None = None) -> BenchDatabase:
    """Create `mailer_bench_<random>` on the server of the admin URL."""
    import psycopg

    admin = admin_url or os.environ.get("MAILER_BENCH_POSTGRES_URL") or DEFAULT_ADMIN_URL
    name = f"mailer_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_psycopg_url(admin), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(admin.replace("postgresql://", "postgresql+psycopg://", 1)).set(database=name)

    def drop() -> None:
        with psycopg.connect(_psycopg_url(admin), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return BenchDatabase(url.render_as_string(hide_password=False), "postgresql", drop)


def create_sqlite_database(workdir: Path) -> BenchDatabase:
    path = workdir / "bench.db"
    return BenchDatabase(f"sqlite:///{path}", "sqlite", None)


# -- redis --------------------------------------------------------------------


@dataclass
class BenchRedis:
    url: str
    server: EmbeddedRedis | None = None

    @property
    def pid(self) -> int | None:
        return self.server.process.pid if self.server else None

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


def start_redis(workdir: Path) -> BenchRedis:
    """MAILER_REDIS_URL if set, else a private redis-server."""
    url = os.environ.get("MAILER_REDIS_URL")
    if url:
        return BenchRedis(url)
    server = start_embedded_redis(workdir / "redis")
    return BenchRedis(server.url, server)


# -- SMTP sink ----------------------------------------------------------------


class _CountingHandler(SinkHandler):
    """The built-in sink's handler, counting instead of keeping messages."""

    def __init__(self) -> None:
        super().__init__(None)
        self.count = 0
        self._count_lock = threading.Lock()

    def _store(self, envelope: Any) -> None:
        with self._count_lock:
            self.count += 1


@dataclass
class BenchSink:
    kind: str  # "postfix" | "builtin"
    host: str
    port: int
    process: subprocess.Popen[bytes] | None = None
    builtin: SmtpSink | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.builtin is not None:
            self.builtin.stop()
            self.builtin = None


def smtp_sink_executable() -> str | None:
    for p in SMTP_SINK_PATHS:
        if os.access(p, os.X_OK):
            return p
    return shutil.which("smtp-sink")


def _wait_for_banner(port: int, timeout: float = 5.0) -> bool:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), timeout=0.5) as s,
        ):
            if s.recv(64).startswith(b"220"):
                s.sendall(b"QUIT\r\n")
                return True
        time.sleep(0.05)
    return False


def start_sink(kind: str = "postfix") -> BenchSink:
    """Postfix's smtp-sink (a C server that discards mail), or the built-in
    aiosmtpd sink when it is missing or `kind` is "builtin"."""
    warnings: list[str] = []
    if kind == "postfix":
        exe = smtp_sink_executable()
        if exe:
            port = free_port()
            # -u root: smtp-sink drops privileges to this user when run as root.
            args = [exe, "-c", f"127.0.0.1:{port}", "1000"]
            if os.geteuid() == 0:
                args[1:1] = ["-u", "root"]
            proc = subprocess.Popen(
                args,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            if _wait_for_banner(port):
                return BenchSink("postfix", "127.0.0.1", port, process=proc)
            proc.kill()
            proc.wait()
            warnings.append("smtp-sink did not answer; using the built-in sink")
        else:
            warnings.append(
                "Postfix's smtp-sink is not installed (apt-get install -y postfix); "
                "using the built-in aiosmtpd sink"
            )
    if kind == "builtin" or warnings:
        warnings.append(
            "the built-in sink (aiosmtpd, one Python thread in this process) is the "
            "bottleneck: figures measure the sink more than the sender"
        )
    sink = SmtpSink(None)
    handler = _CountingHandler()
    sink.handler = handler
    sink.controller.handler = handler
    sink.start()
    return BenchSink("builtin", "127.0.0.1", sink.port, builtin=sink, warnings=warnings)
