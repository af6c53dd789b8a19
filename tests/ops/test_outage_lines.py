"""Redis stopped under a running beat: one WARNING line saying the broker is
down, one INFO line when it is back, no traceback (Celery's own scheduler logs
an ERROR with a traceback and a stack dump on every tick)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from mailer.embedded.redis_server import start_embedded_redis
from mailer.testing.stack import TEST_SECRET

MAILER = str(Path(sys.executable).with_name("mailer"))


def _wait_for(log: Path, text: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)


def test_beat_tells_a_broker_outage_in_one_line(engine: Engine, tmp_path: Path) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("beat's broker outage does not depend on the database; SQLite is enough")
    server = start_embedded_redis(tmp_path / "redis")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env.update(
        MAILER_DATABASE_URL=engine.url.render_as_string(hide_password=False),
        MAILER_REDIS_URL=server.url,
        MAILER_SECRET_KEY=TEST_SECRET,
        MAILER_VAR_DIR=str(tmp_path / "var"),
        MAILER_DISPATCH_INTERVAL="0.2",
    )
    log = tmp_path / "beat.log"
    with log.open("wb") as out:
        beat = subprocess.Popen(
            [MAILER, "beat"], env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        _wait_for(log, "beat: Starting", beat)
        time.sleep(1)
        port = server.port
        server.stop()
        _wait_for(log, "が応答しません", beat)
        time.sleep(3)  # about fifteen ticks with the broker down
        server = start_embedded_redis(tmp_path / "redis", port=port)
        _wait_for(log, "がまた応答しています", beat)
    finally:
        if beat.poll() is None:
            os.killpg(beat.pid, 15)
            beat.wait(timeout=20)
        server.stop()
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text
    problems = [line for line in text.splitlines() if " WARNING " in line or " ERROR " in line]
    assert len(problems) == 1, text
    assert f"beat: ブローカーの Redis（127.0.0.1:{port} (" in problems[0]
    assert "が応答しません" in problems[0] and "MAILER_REDIS_URL" in problems[0]


def test_celery_broker_errors_become_the_one_redis_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Celery's consumer says "Cannot connect to redis://…" every couple of
    seconds while the broker is down: the worker shows one WARNING (the
    process's Redis line) and, once "Connected to" comes, one INFO."""
    import logging

    import workers.app  # noqa: F401  (installs the filter, as a worker does)

    consumer = logging.getLogger("celery.worker.consumer.consumer")
    connection = logging.getLogger("celery.worker.consumer.connection")
    refused = ConnectionRefusedError("Error 111 connecting to 127.0.0.1:6390. Connection refused.")
    with caplog.at_level(logging.INFO):
        for i in range(5):
            consumer.error("consumer: Cannot connect to %s: %s.\n%s\n", "redis://127.0.0.1:6390//",
                           refused, f"Trying again in 2.00 seconds... ({i + 1}/100)")
        consumer.warning("%s (%r)", "consumer: Connection to broker lost.", refused)
        connection.info("Connected to %s", "redis://127.0.0.1:6390//")
        connection.info("Connected to %s", "redis://127.0.0.1:6390//")
    seen = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in seen] == ["WARNING", "INFO", "INFO", "INFO"], seen
    assert seen[0][1].startswith("Redis")
    assert "が応答しません（ConnectionRefusedError: Error 111" in seen[0][1]
    assert seen[1][1].startswith("Redis") and seen[1][1].endswith("がまた応答しています")
    assert "Cannot connect" not in "".join(m for _, m in seen)
