"""`mailer beat`, `mailer worker` and `mailer web` start in an empty folder,
configured by environment variables only, and write nothing into it but the
data folder the settings name (beat's schedule state)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import Engine

from mailer.testing.stack import TEST_SECRET

MAILER = str(Path(sys.executable).with_name("mailer"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ready_http(url: str) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    return ready


@pytest.fixture
def empty_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder


@pytest.fixture
def env(engine: Engine, redis_url: str) -> Iterator[dict[str, str]]:
    values = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    values.update(
        MAILER_DATABASE_URL=engine.url.render_as_string(hide_password=False),
        MAILER_REDIS_URL=redis_url,
        MAILER_SECRET_KEY=TEST_SECRET,
    )
    yield values
    # Beat's ticks wait in the default queue for a worker; leave none behind.
    redis.Redis.from_url(redis_url).delete("celery")


def _run_until_ready(
    args: list[str], *, cwd: Path, env: dict[str, str], ready: Callable[[Path], bool]
) -> str:
    """Start `mailer args` in `cwd`, wait until `ready(log)`, stop it; return its log."""
    log = cwd.parent / "out.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [MAILER, *args], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not ready(log):
            text = log.read_text(errors="replace")
            assert proc.poll() is None, f"mailer {args[0]} exited {proc.returncode}:\n{text}"
            assert time.monotonic() < deadline, f"mailer {args[0]} not ready:\n{text}"
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    return log.read_text(errors="replace")


def test_beat_keeps_its_schedule_in_the_data_folder(
    empty_dir: Path, env: dict[str, str], redis_url: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.delete("celery")

    def ticking(_log: Path) -> bool:
        return client.llen("celery") > 0

    _run_until_ready(["beat"], cwd=empty_dir, env=env, ready=ticking)
    # The data folder (MAILER_VAR_DIR's default) was created; nothing else.
    assert [p.name for p in empty_dir.iterdir()] == ["var"]
    assert list((empty_dir / "var").glob("celerybeat-schedule*"))


def test_beat_uses_a_data_folder_named_by_the_settings(
    empty_dir: Path, tmp_path: Path, env: dict[str, str], redis_url: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.delete("celery")
    data = tmp_path / "state" / "mailer"  # does not exist yet
    _run_until_ready(
        ["beat"],
        cwd=empty_dir,
        env={**env, "MAILER_VAR_DIR": str(data)},
        ready=lambda _log: client.llen("celery") > 0,
    )
    assert list(empty_dir.iterdir()) == []
    assert list(data.glob("celerybeat-schedule*"))


def test_worker_starts_in_an_empty_folder(empty_dir: Path, env: dict[str, str]) -> None:
    _run_until_ready(
        ["worker", "--concurrency=1"],
        cwd=empty_dir,
        env=env,
        ready=lambda log: " ready." in log.read_text(errors="replace"),
    )
    assert list(empty_dir.iterdir()) == []


def test_web_starts_in_an_empty_folder(empty_dir: Path, env: dict[str, str]) -> None:
    port = _free_port()
    ready = _ready_http(f"http://127.0.0.1:{port}/readyz")
    _run_until_ready(
        ["web", f"--port={port}"], cwd=empty_dir, env=env, ready=lambda _log: ready()
    )
    assert list(empty_dir.iterdir()) == []
