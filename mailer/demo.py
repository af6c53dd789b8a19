"""`mailer demo`: the whole main job on embedded defaults.

Starts a private Redis (unless MAILER_REDIS_URL is set), the built-in SMTP
sink, a Celery worker and beat; loads the sample issue and subscribers; sends
part 1 now and part 2 a few seconds later through the scheduler; waits, then
stops everything it started.

`mailer demo --serve` then keeps the web admin running on the demo's
database: `demo_staff_password` creates (or resets) the staff account
demo@example.jp with every role and a new random password, printed once.
"""

from __future__ import annotations

import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from mailer.db import make_engine, session_scope, upgrade
from mailer.embedded.processes import Child, start_beat, start_worker
from mailer.embedded.redis_server import EmbeddedRedis, start_embedded_redis
from mailer.embedded.smtp_sink import SmtpSink
from mailer.models import Part
from mailer.services.send_progress import SendProgress, send_progress
from mailer.services.sends import create_send
from mailer.services.subscribers import read_subscriber_csv, upsert_subscribers
from mailer.settings import Settings

DEMO_LIST = "cio-forum"
DEMO_STAFF_EMAIL = "demo@example.jp"


@dataclass
class DemoResult:
    progress: list[tuple[str, SendProgress]] = field(default_factory=list)
    outbox: Path | None = None
    database_url: str = ""  # where the demo's data stays (var/demo/mailer.db by default)
    ok: bool = False
    message: str = ""


def _load_samples(settings: Settings, engine_url: str) -> list[tuple[str, int]]:
    from mailer.compose.load import load_issue
    from mailer.samples import SAMPLE_ISSUE_DIR, SAMPLE_SUBSCRIBERS_CSV

    engine = make_engine(engine_url)
    upgrade(engine)
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


def run_demo(
    settings: Settings,
    *,
    part2_delay: float = 5.0,
    timeout: float = 180.0,
    on_progress: Callable[[list[tuple[str, SendProgress]]], None] | None = None,
    fresh: bool = True,
) -> DemoResult:
    """Run the demo; return per-part progress and whether all is accounted for."""
    var = settings.var_dir
    demo_dir = var / "demo"
    outbox = settings.outbox_dir
    if fresh:
        shutil.rmtree(demo_dir, ignore_errors=True)
        shutil.rmtree(outbox, ignore_errors=True)
    demo_dir.mkdir(parents=True, exist_ok=True)
    db_url = settings.database_url or f"sqlite:///{demo_dir / 'mailer.db'}"
    redis: EmbeddedRedis | None = None
    children: list[Child] = []
    sink = SmtpSink(outbox).start()
    result = DemoResult(outbox=outbox, database_url=db_url)
    try:
        redis_url = settings.redis_url
        if not redis_url:
            redis = start_embedded_redis(demo_dir / "redis")
            redis_url = redis.url
        parts = _load_samples(settings, db_url)
        env = {
            "MAILER_ENV": settings.env.value,
            "MAILER_DATABASE_URL": db_url,
            "MAILER_REDIS_URL": redis_url,
            "MAILER_SMTP_URL": sink.url,
            "MAILER_VAR_DIR": str(demo_dir),
            "MAILER_BASE_URL": settings.base_url,
            "MAILER_SECRET_KEY": settings.secret_key,
            "MAILER_DISPATCH_INTERVAL": "1",
            "MAILER_RATE_LIMIT": settings.rate_limit,
        }
        children.append(start_worker(env, demo_dir / "worker.log"))
        children.append(start_beat(env, demo_dir / "beat.log"))
        engine = make_engine(db_url)
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
            dead = [c.name for c in children if c.process.poll() is not None]
            if dead:
                result.message = f"{', '.join(dead)} stopped unexpectedly; see {demo_dir}"
                break
            if time.monotonic() > deadline:
                result.message = f"timed out after {timeout:.0f} s; see {demo_dir}/*.log"
                break
            time.sleep(0.5)
        engine.dispose()
        result.ok = not result.message and all(p.accounted for _, p in result.progress)
        return result
    finally:
        for child in reversed(children):
            child.stop()
        sink.stop()
        if redis is not None:
            redis.stop()


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
