"""Request bodies are limited per route while they are read, and uploads are
refused before their body is read when nobody is logged in (security #15.2).

The refusals are checked on a raw socket that sends only the request head: the
answer must come before a single byte of the body is sent.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from admin_support import make_token, make_user
from sqlalchemy import Engine


def _head_only(live_url: str, path: str, *, length: int, headers: dict[str, str] | None = None,
               ) -> tuple[int, bytes]:
    """Send a POST head announcing `length` bytes, send none, return (status, body)."""
    parts = urlsplit(live_url)
    lines = [f"POST {path} HTTP/1.1", f"Host: {parts.netloc}",
             "Content-Type: multipart/form-data; boundary=x", f"Content-Length: {length}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data or len(data) < data.index(b"\r\n\r\n") + 4 + _length(data):
            chunk = sock.recv(65536)  # times out (the test fails) if the server waits for the body
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def _length(data: bytes) -> int:
    head = data.partition(b"\r\n\r\n")[0].decode("latin-1").lower()
    for line in head.split("\r\n"):
        if line.startswith("content-length:"):
            return int(line.split(":", 1)[1])
    return 0


@pytest.fixture
def token(engine: Engine, live_url: str) -> str:
    make_user(engine, email="editor@example.jp", roles=["editor", "list_admin"])
    return make_token(engine, email="editor@example.jp", roles=["editor",
                                                                 "list_admin"], name="up")


@pytest.mark.parametrize("path", ["/api/v1/issues", "/api/v1/subscribers/import"])
def test_an_anonymous_api_upload_is_refused_before_its_body(live_url: str, path: str) -> None:
    status, body = _head_only(live_url, path, length=5 * 1024 * 1024)
    assert status == 401
    assert "ログイン" in json.loads(body)["detail"]


def test_an_anonymous_admin_upload_is_refused_before_its_body(live_url: str) -> None:
    status, body = _head_only(live_url, "/admin/issues", length=5 * 1024 * 1024)
    assert status == 401
    assert "ログインが必要です" in body.decode()


def test_a_forged_token_is_anonymous(live_url: str) -> None:
    status, _body = _head_only(live_url, "/api/v1/issues", length=1000,
                               headers={"Authorization": "Bearer not-a-token"})
    assert status == 401


@pytest.mark.parametrize(("path", "limit_mb"), [("/api/v1/issues", 21),
                                                 ("/api/v1/subscribers/import", 51)])
def test_a_declared_length_over_the_route_limit_is_refused_unread(
        live_url: str, token: str, path: str, limit_mb: int) -> None:
    status, body = _head_only(live_url, path, length=limit_mb * 1024 * 1024 + 1,
                              headers={"Authorization": f"Bearer {token}"})
    assert status == 413
    assert f"{limit_mb} MB" in json.loads(body)["detail"]


def test_a_chunked_body_is_counted_as_it_arrives(live_url: str) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(200):  # 200 KB against the login form's 64 KB
            yield b"email=" + b"a" * 1018

    with httpx.Client(base_url=live_url, timeout=10) as client:
        response = client.post("/admin/login", content=chunks(),
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413
    assert "64 KB" in response.text


def test_other_routes_take_at_most_one_megabyte(live_url: str) -> None:
    status, _ = _head_only(live_url, "/p/some-token", length=2 * 1024 * 1024)
    assert status == 413


def test_a_logged_in_upload_within_the_limit_is_read(live_url: str, token: str) -> None:
    with httpx.Client(base_url=live_url, timeout=10) as client:
        response = client.post("/api/v1/issues", headers={"Authorization": f"Bearer {token}"},
                               files={"file": ("issue.zip", b"not a zip", "application/zip")})
    # read and parsed: the service's own answer about the file, not a refusal of the body
    assert response.status_code not in (401, 413)
    assert response.status_code < 500
