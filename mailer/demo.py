"""`mailer demo`: the whole main job on embedded defaults.

Everything lives in the demo's folder, `<MAILER_VAR_DIR>/demo/` (var/demo by
default): its SQLite database `mailer.db` (unless MAILER_DATABASE_URL is
set), the mail the built-in SMTP sink accepted (`outbox/*.eml`), the logs of
the worker and beat, and the private Redis's folder.

`demo_stack` starts what a send needs: a private Redis (unless
MAILER_REDIS_URL is set), the SMTP sink, a Celery worker and beat; on leaving
it stops them again, beat first and Redis last. `demo_sends` loads the sample
issue and subscribers, sends part 1 now and part 2 a few seconds later
through the scheduler, and waits until every delivery is accounted for.

A second run keeps the folder: `has_demo_data` tells the command that there
is something to keep, and only `reset_demo` (`--reset`) removes it. Only one
run at a time uses a var folder: `demo_lock` holds `<MAILER_VAR_DIR>/demo.lock`
(outside the demo's folder, so `--reset` cannot remove it) for the whole run,
and a second `mailer demo` while the first still serves is refused instead of
starting a second worker and beat on the same database, replacing the first
run's printed password or removing its data.

`mailer demo --serve` then keeps the stack running and the web admin on the
demo's data: `demo_staff_password` creates (or resets) the staff account
demo@example.jp with every role and a new random password, printed once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import inspect, select

from mailer.db import make_engine, session_scope, upgrade
from mailer.embedded.processes import Child, start_beat, start_worker
from mailer.embedded.redis_server import EmbeddedRedis, start_embedded_redis
from mailer.embedded.smtp_sink import SmtpSink
from mailer.models import Issue, Part
from mailer.services.send_progress import SendProgress, send_progress
from mailer.services.sends import create_send
from mailer.services.subscribers import read_subscriber_csv, upsert_subscribers
from mailer.settings import Settings

DEMO_LIST = "cio-forum"
DEMO_STAFF_EMAIL = "demo@example.jp"


def demo_dir(settings: Settings) -> Path:
    """The demo's folder (absolute): <MAILER_VAR_DIR>/demo."""
    return (settings.var_dir / "demo").absolute()


def demo_database_url(settings: Settings) -> str:
    return settings.database_url or f"sqlite:///{demo_dir(settings) / 'mailer.db'}"


def has_demo_data(settings: Settings) -> bool:
    """True when an earlier demo loaded its samples: an issue in the demo's
    database (its SQLite file is not created to find out). A run stopped
    before the samples were in (one transaction) left nothing to keep."""
    if not settings.database_url and not (demo_dir(settings) / "mailer.db").exists():
        return False
    engine = make_engine(demo_database_url(settings))
    try:
        if not inspect(engine).has_table("issue"):
            return False
        with session_scope(engine) as session:
            return session.execute(select(Issue.id).limit(1)).first() is not None  # type: ignore[call-overload]
    finally:
        engine.dispose()


class DemoBusy(Exception):
    """Another `mailer demo` holds the demo's lock; `pid` is its process ("" if unknown)."""

    def __init__(self, path: Path, pid: str) -> None:
        super().__init__(f"{path}: held by {pid or '?'}")
        self.path = path
        self.pid = pid


@contextlib.contextmanager
def demo_lock(settings: Settings) -> Iterator[Path]:
    """Hold `<MAILER_VAR_DIR>/demo.lock` while the block runs (an advisory
    lock the system drops when this process ends, however it ends); yield its
    path. Raises DemoBusy at once when another process holds it."""
    path = settings.var_dir.absolute() / "demo.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="ascii") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            raise DemoBusy(path, handle.read().strip()) from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            yield path
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def reset_demo(settings: Settings) -> None:
    """Remove the demo's folder (database, outbox, logs). A database named by
    MAILER_DATABASE_URL is not the demo's to drop and stays."""
    shutil.rmtree(demo_dir(settings), ignore_errors=True)


@dataclass
class DemoResult:
    progress: list[tuple[str, SendProgress]] = field(default_factory=list)
    outbox: Path | None = None
    database_url: str = ""  # where the demo's data stays (var/demo/mailer.db by default)
    ok: bool = False
    message: str = ""


@dataclass
class DemoStack:
    """The running services of the demo (see `demo_stack`)."""

    settings: Settings
    directory: Path
    database_url: str
    redis_url: str
    sink: SmtpSink
    children: list[Child] = field(default_factory=list)
    closing: bool = False  # set when it starts to stop (a stopped child is then expected)

    @property
    def outbox(self) -> Path:
        return self.directory / "outbox"

    def settings_for_web(self) -> Settings:
        """The settings of the web app that runs beside the stack: the demo's
        database, broker and sink (a test send from the admin lands there too)."""
        return self.settings.model_copy(update={
            "database_url": self.database_url, "redis_url": self.redis_url,
            "smtp_url": self.sink.url, "var_dir": self.directory})

    def stopped(self) -> list[str]:
        """Names of the children that are no longer running."""
        return [c.name for c in self.children if c.process.poll() is not None]


def _env(settings: Settings, directory: Path, database_url: str, redis_url: str,
         smtp_url: str) -> dict[str, str]:
    return {
        "MAILER_ENV": settings.env.value,
        "MAILER_DATABASE_URL": database_url,
        "MAILER_REDIS_URL": redis_url,
        "MAILER_SMTP_URL": smtp_url,
        "MAILER_VAR_DIR": str(directory),
        "MAILER_BASE_URL": settings.base_url,
        "MAILER_SECRET_KEY": settings.secret_key,
        "MAILER_DISPATCH_INTERVAL": "1",
        "MAILER_RATE_LIMIT": settings.rate_limit,
    }


@contextlib.contextmanager
def _no_interrupts() -> Iterator[None]:
    """Ignore Ctrl-C while the stack stops (a second Ctrl-C must not leave a
    child behind halfway through); each stop is bounded by its own timeout."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def demo_stack(settings: Settings) -> Iterator[DemoStack]:
    """Start everything a send needs, on the demo's data; stop it all on leaving.

    The database gets its schema first; the worker, beat and the private Redis
    run in their own sessions (a Ctrl-C reaches only this process, which then
    stops them in order: beat, worker with a warm shutdown, SMTP sink, Redis)
    and end by themselves if this process is killed outright. The SMTP sink is
    a thread of this process, started after the children (no fork with
    threads running)."""
    directory = demo_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    database_url = demo_database_url(settings)
    engine = make_engine(database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    redis: EmbeddedRedis | None = None
    sink = SmtpSink(directory / "outbox")
    stack: DemoStack | None = None
    try:
        redis_url = settings.redis_url
        if not redis_url:
            redis = start_embedded_redis(directory / "redis", tied=True)
            redis_url = redis.url
        stack = DemoStack(settings=settings, directory=directory, database_url=database_url,
                          redis_url=redis_url, sink=sink)
        env = _env(settings, directory, database_url, redis_url, sink.url)
        stack.children.append(start_worker(env, directory / "worker.log", tied=True))
        stack.children.append(start_beat(env, directory / "beat.log", tied=True))
        sink.start()
        yield stack
    finally:
        with _no_interrupts():
            if stack:
                stack.closing = True
            for child in reversed(stack.children if stack else []):
                child.stop(timeout=15)
            with contextlib.suppress(Exception):
                sink.stop()  # not started when a child failed to start
            if redis is not None:
                redis.stop()


def _load_samples(engine_url: str) -> list[tuple[str, int]]:
    from mailer.compose.load import load_issue
    from mailer.samples import SAMPLE_ISSUE_DIR, SAMPLE_SUBSCRIBERS_CSV

    engine = make_engine(engine_url)
    with session_scope(engine) as session:
        result = load_issue(session=session, path=SAMPLE_ISSUE_DIR)
        upsert_subscribers(
            session=session,
            rows=read_subscriber_csv(SAMPLE_SUBSCRIBERS_CSV),
            list_name=DEMO_LIST,
            consent_source="demo sample data",
        )
        query = (
            select(Part.label, Part.id)  # type: ignore[call-overload]
            .where(Part.issue_id == result.issue_id)
            .order_by(Part.position)
        )
        parts = [(label, pid) for label, pid in session.execute(query)]
    engine.dispose()
    return parts


def demo_sends(
    stack: DemoStack,
    *,
    part2_delay: float = 5.0,
    timeout: float = 180.0,
    on_progress: Callable[[list[tuple[str, SendProgress]]], None] | None = None,
) -> DemoResult:
    """Load the samples, send part 1 now and part 2 `part2_delay` s later, and
    wait until every delivery is accounted for (or a child stops, or time is up)."""
    result = DemoResult(outbox=stack.outbox, database_url=stack.database_url)
    parts = _load_samples(stack.database_url)
    engine = make_engine(stack.database_url)
    try:
        now = datetime.now(UTC)
        send_ids: list[tuple[str, int]] = []
        with session_scope(engine) as session:
            for i, (label, part_id) in enumerate(parts[:2]):
                at = now + timedelta(seconds=part2_delay * i)
                send = create_send(
                    session=session,
                    part_id=part_id,
                    list_names=[DEMO_LIST],
                    at=at,
                    created_by="demo",
                )
                send_ids.append((label, int(send.id)))  # type: ignore[arg-type]
        deadline = time.monotonic() + timeout
        while True:
            result.progress = [
                (label, send_progress(engine=engine, send_id=sid)) for label, sid in send_ids
            ]
            if on_progress:
                on_progress(result.progress)
            if all(
                p.accounted and p.status.value in ("done", "cancelled") for _, p in result.progress
            ):
                break
            if dead := stack.stopped():
                result.message = f"{', '.join(dead)} stopped unexpectedly; see {stack.directory}"
                break
            if time.monotonic() > deadline:
                result.message = f"timed out after {timeout:.0f} s; see {stack.directory}/*.log"
                break
            time.sleep(0.5)
    finally:
        engine.dispose()
    result.ok = not result.message and all(p.accounted for _, p in result.progress)
    return result


def run_demo(
    settings: Settings,
    *,
    part2_delay: float = 5.0,
    timeout: float = 180.0,
    on_progress: Callable[[list[tuple[str, SendProgress]]], None] | None = None,
) -> DemoResult:
    """Run the demo on its own stack; return per-part progress and whether all
    is accounted for. The caller decides about earlier data (`has_demo_data`,
    `reset_demo`)."""
    with demo_stack(settings) as stack:
        return demo_sends(stack, part2_delay=part2_delay, timeout=timeout,
                          on_progress=on_progress)


def demo_staff_password(database_url: str, *, email: str = DEMO_STAFF_EMAIL) -> str:
    """Create (or reset) the demo's staff account with every role and a new
    random password; return the password (shown once, never stored in clear).
    Each call ends the account's earlier sessions and replaces its password."""
    from mailer.models import UserRole
    from mailer.services.accounts import provision_user

    password = secrets.token_urlsafe(12)  # 16 characters, 96 bits
    engine = make_engine(database_url)
    try:
        with session_scope(engine) as session:
            provision_user(session=session, email=email, roles=list(UserRole),
                           password=password, name="デモ担当", actor="demo")
    finally:
        engine.dispose()
    return password
