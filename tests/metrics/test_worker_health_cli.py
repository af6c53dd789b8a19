"""`worker_health` (the compose healthcheck) against a real Celery worker on
real Redis, run as its own process the way Docker runs a healthcheck."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailer.db import make_engine
from mailer.testing.stack import Stack

# The function is registered as `mailer worker-health` by the CLI; run it on its own here.
RUN = "import typer; from mailer.cli.health import worker_health; typer.run(worker_health)"


def health(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", RUN, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def stack(redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    url = f"sqlite:///{tmp_path / 'mailer.db'}"
    engine = make_engine(url)  # the worker only has to start; no send is made
    s = Stack(database_url=url, redis_url=redis_url, workdir=tmp_path, engine=engine)
    try:
        yield s
    finally:
        s.stop()
        engine.dispose()


def _env(stack: Stack) -> dict[str, str]:
    return {**os.environ, **stack.env()}


def test_exit_0_when_the_local_worker_answers(stack: Stack) -> None:
    stack.start_worker(concurrency=1, name="celery")  # node celery@<this host>, as `mailer worker`
    env = _env(stack)
    deadline = time.monotonic() + 60
    while True:
        r = health(env, "--timeout", "2")
        if r.returncode == 0 or time.monotonic() > deadline:
            break
    assert r.returncode == 0, r.stderr + stack.logs()
    assert f"celery@{socket.gethostname()}: 応答がありました" in r.stdout
    other = health(env, "--name", "celery@no-such-host", "--timeout", "1")
    assert other.returncode == 1
    assert "celery@no-such-host: 1 秒以内に応答がありません" in other.stderr


def test_exit_1_when_no_worker_or_no_broker(stack: Stack) -> None:
    env = _env(stack)
    r = health(env, "--timeout", "1")
    assert r.returncode == 1 and "応答がありません" in r.stderr
    started = time.monotonic()
    down = health({**env, "MAILER_REDIS_URL": "redis://127.0.0.1:1/0"}, "--timeout", "1")
    assert down.returncode == 1 and "ブローカーに届きません" in down.stderr
    assert time.monotonic() - started < 30  # fails fast, inside a healthcheck's timeout


def test_exit_2_without_redis(stack: Stack) -> None:
    env = {k: v for k, v in _env(stack).items() if k != "MAILER_REDIS_URL"}
    r = health(env)
    assert r.returncode == 2 and "MAILER_REDIS_URL" in r.stderr
