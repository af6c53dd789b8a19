"""`mailer demo --serve`: the demo runs, then the web admin keeps running on
its data (var/demo/mailer.db) with a staff account whose password it prints.
The real command in a subprocess, started from an empty folder with only
environment settings; logged in over HTTP like a person would."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from mailer.embedded.redis_server import free_port
from mailer.testing.stack import TEST_SECRET

pytestmark = pytest.mark.slow
MAILER = str(Path(sys.executable).with_name("mailer"))


def _lines(process: subprocess.Popen[str]) -> queue.Queue[str]:
    """Every line the process prints, as it prints it."""
    out: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            out.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return out


def _wait_for(lines: queue.Queue[str], pattern: str, seen: list[str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        seen.append(line)
        if m := re.search(pattern, line):
            return m.group(1)
    raise AssertionError(f"no line matching {pattern!r}:\n{''.join(seen)}")


@pytest.fixture
def demo(tmp_path: Path, redis_url: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
    redis.Redis.from_url(redis_url).flushdb()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env.update(MAILER_VAR_DIR=str(tmp_path / "var"), MAILER_REDIS_URL=redis_url,
               MAILER_SECRET_KEY=TEST_SECRET, MAILER_RATE_LIMIT="500/s", COLUMNS="200")
    workdir = tmp_path / "empty"
    workdir.mkdir()
    process = subprocess.Popen(
        [MAILER, "demo", "--part2-delay", "1", "--timeout", "150", "--serve", "--port", str(port)],
        cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    try:
        yield process, port
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)  # Ctrl-C
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def test_demo_serve_leaves_the_admin_running_on_the_demo_data(
    demo: tuple[subprocess.Popen[str], int], tmp_path: Path
) -> None:
    process, port = demo
    lines, seen = _lines(process), []
    url = _wait_for(lines, r"管理画面: (http://\S+)", seen, timeout=180)
    assert url == f"http://127.0.0.1:{port}/admin"
    assert _wait_for(lines, r"ログイン: (\S+)", seen, timeout=10) == "demo@example.jp"
    password = _wait_for(lines, r"パスワード.*: (\S+)", seen, timeout=10)
    assert len(password) >= 12
    assert (tmp_path / "var" / "demo" / "mailer.db").is_file()

    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, timeout=10) as client:
        deadline = time.monotonic() + 30
        while True:  # the server starts just after it prints
            try:
                form = client.get("/admin/login")
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline and process.poll() is None, "".join(seen)
                time.sleep(0.2)
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token, form.text[:500]
        wrong = client.post("/admin/login", data={
            "email": "demo@example.jp", "password": "not-" + password,
            "csrf_token": token.group(1), "next": "/admin/issues"})
        assert wrong.status_code == 401
        token = re.search(r'name="csrf_token" value="([^"]+)"', wrong.text)
        assert token
        r = client.post("/admin/login", data={
            "email": "demo@example.jp", "password": password, "csrf_token": token.group(1),
            "next": "/admin/issues"}, follow_redirects=False)
        assert r.status_code == 303, r.text[:500]
        issues = client.get("/admin/issues")
        assert issues.status_code == 200
        assert "武蔵野市×都CIO座談会" in issues.text and "vol04" in issues.text
