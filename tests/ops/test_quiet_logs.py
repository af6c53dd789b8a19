"""A quiet system logs nothing at INFO: a real worker and beat, the dispatch
tick driven ten times a second (a minute's worth of ticks in a few seconds),
and no INFO line from either once they have started."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from celery import Celery
from sqlalchemy import Engine

from mailer.testing.stack import TEST_SECRET

MAILER = str(Path(sys.executable).with_name("mailer"))
DISPATCH_TASK = "mailer.dispatch"
TICKS = 60  # what one second per tick would log in a minute


def _start(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [MAILER, *args], env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


def _after(text: str, marker: str) -> list[str]:
    """The log lines after the first one containing `marker`."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if marker in line:
            return lines[i + 1 :]
    raise AssertionError(f"{marker!r} not in the log:\n{text}")


def _dispatch_count(broker: str) -> int:
    """How many dispatch ticks the worker has run (Celery's own counter)."""
    probe = Celery(broker=broker)
    stats = probe.control.inspect(timeout=3).stats() or {}
    return sum(int(s.get("total", {}).get(DISPATCH_TASK, 0)) for s in stats.values())


def test_idle_worker_and_beat_log_nothing_at_info(
    engine: Engine, redis_url: str, tmp_path: Path
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("what is logged does not depend on the database; SQLite is enough")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env.update(
        MAILER_DATABASE_URL=engine.url.render_as_string(hide_password=False),
        MAILER_REDIS_URL=redis_url,
        MAILER_SECRET_KEY=TEST_SECRET,
        MAILER_VAR_DIR=str(tmp_path / "var"),
        MAILER_DISPATCH_INTERVAL="0.1",
    )
    redis.Redis.from_url(redis_url).delete("celery")
    worker_log, beat_log = tmp_path / "worker.log", tmp_path / "beat.log"
    worker = _start(["worker", "--concurrency=1"], env, tmp_path, worker_log)
    beat = None
    try:
        deadline = time.monotonic() + 60
        while " ready." not in worker_log.read_text(errors="replace"):
            assert worker.poll() is None and time.monotonic() < deadline, worker_log.read_text()
            time.sleep(0.2)
        beat = _start(["beat"], env, tmp_path, beat_log)
        while _dispatch_count(redis_url) < TICKS:
            assert beat.poll() is None, beat_log.read_text()
            assert time.monotonic() < deadline, worker_log.read_text() + beat_log.read_text()
            time.sleep(0.5)
    finally:
        if beat is not None:
            _stop(beat)
        _stop(worker)
        redis.Redis.from_url(redis_url).delete("celery")

    info = re.compile(r"\bINFO\b")
    worker_lines = _after(worker_log.read_text(errors="replace"), " ready.")
    beat_lines = _after(beat_log.read_text(errors="replace"), "beat: Starting")
    # Shutting down is a change of state worth its lines; idling is not.
    idle = [
        line
        for line in worker_lines + beat_lines
        if info.search(line) and "shutdown" not in line.lower()
    ]
    assert idle == [], "\n".join(idle[:20])


def test_only_the_tick_is_quietened_and_debug_still_shows_it() -> None:
    import logging

    from celery.app.trace import LOG_SUCCESS

    import workers.app  # noqa: F401  (installs the filter, as a worker does)

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("celery.app.trace")
    handler, level = Keep(), logger.level
    logger.addHandler(handler)
    try:
        for lvl in (logging.INFO, logging.DEBUG):
            logger.setLevel(lvl)
            for name in (DISPATCH_TASK, "mailer.deliver_send"):
                context = {"id": "x", "name": name, "return_value": None, "runtime": 0.01}
                logger.info(LOG_SUCCESS, context, extra={"data": context})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    seen = [(r.levelname, r.getMessage().split("[")[0]) for r in records]
    assert seen == [
        ("INFO", "Task mailer.deliver_send"),  # at INFO: the tick dropped, the batch kept
        ("DEBUG", "Task mailer.dispatch"),  # at DEBUG: the tick shown as DEBUG
        ("INFO", "Task mailer.deliver_send"),
    ]
