"""`mailer web` believes X-Forwarded-For only from MAILER_TRUSTED_PROXIES
(security #15.8): uvicorn's default trusted 127.0.0.1, so any local process
could pose as any client address and dodge the login lockout by address.

The address the app saw is read back from the audit record of a failed login.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import Engine, text
from test_start_anywhere import MAILER, _free_port, _ready_http, empty_dir, env

__all__ = ["empty_dir", "env"]

SPOOFED = "203.0.113.77"


@contextmanager
def _web(cwd: Path, env: dict[str, str]) -> Iterator[str]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([MAILER, "web", f"--port={port}"], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        ready = _ready_http(f"{url}/readyz")
        deadline = time.monotonic() + 60
        while not ready():
            assert proc.poll() is None and time.monotonic() < deadline, "mailer web did not start"
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def _failed_login_ip(url: str, engine: Engine, email: str) -> str:
    with httpx.Client(base_url=url, timeout=10) as client:
        page = client.get("/admin/login")
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        client.post("/admin/login", data={"csrf_token": token, "email": email,
                                          "password": "wrong password"},
                    headers={"X-Forwarded-For": SPOOFED})
    with engine.connect() as conn:
        details = conn.execute(text("SELECT detail FROM audit_log WHERE target_id = :t"),
                               {"t": email}).scalars().all()
    assert details, "the failed login left no audit record"
    return " ".join(details)


def test_forwarded_for_is_ignored_by_default(empty_dir: Path, env: dict[str, str],
                                             engine: Engine) -> None:
    with _web(empty_dir, env) as url:
        seen = _failed_login_ip(url, engine, "nobody@example.jp")
    assert SPOOFED not in seen
    assert "127.0.0.1" in seen


def test_forwarded_for_is_believed_from_a_trusted_proxy(empty_dir: Path, env: dict[str, str],
                                                         engine: Engine) -> None:
    with _web(empty_dir, {**env, "MAILER_TRUSTED_PROXIES": "127.0.0.1"}) as url:
        seen = _failed_login_ip(url, engine, "someone@example.jp")
    assert SPOOFED in seen
